"""Seeded sessions hold what clinical CT exams hold: every second one a localizer and a thin and
a thick reconstruction beside the axial series, so the scan choice has something to choose.

Resolved against the sandbox with the runner, as Container Service resolves infer's `scan`
input (`CommandResolutionServiceImpl.matchChildFromParent` over the session's scans; several
matches refuse the launch in `findResolvedValues`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from containers.common.dicom_series import read_series
from xnat_plugin.client import browse, connect, paths
from xnat_plugin.client.transfer import download_resource, upload_folder
from xnat_plugin.commands.catalogue import step_commands
from xnat_plugin.commands.scan_rule import ScanRule
from xnat_plugin.runner.errors import CommandResolutionError
from xnat_plugin.runner.resolve import resolve_wrapper
from xnat_plugin.runner.xnat_rest import XnatRest
from xnat_plugin.sandbox.seed.clinical_series import AXIAL_DESCRIPTION_PATTERN
from xnat_plugin.sandbox.seed.seeding import seed_project

SMALL = {"matrix": 32, "slices": 10}


@pytest.fixture
def seeded(sandbox: Any, tmp_path: Path) -> list[Any]:
    models = tmp_path / "models" / "organs" / "configs"
    models.mkdir(parents=True)
    (models / "metadata.json").write_text("{}")
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        sessions = seed_project(client, "CLIN", 2, sites=1, seed=3, show_progress=False, **SMALL)
        # infer's wrapper also needs the project's models resource to resolve.
        upload_folder(
            client, paths.project("CLIN"), "MONAI_MODELS", tmp_path / "models", show_progress=False
        )
    return sessions


def test_every_second_session_holds_a_localizer_and_two_reconstructions(
    sandbox: Any, seeded: list[Any]
) -> None:
    simple, clinical = seeded
    assert (simple.scan_id, simple.scan_ids) == ("2", ("2",))
    assert (clinical.scan_id, clinical.scan_ids) == ("2", ("1", "2", "3", "4"))
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        scans = {s.id: s for s in browse.list_scans(client, clinical.session_id)}
        frames = {
            scan_id: browse.list_resources(client, paths.scan(clinical.session_id, scan_id))[0]
            for scan_id in scans
        }
    # 10 slices of 20 mm over 200 mm: thin 1 mm, thick 10 mm; two localizer views.
    assert {k: v.file_count for k, v in frames.items()} == {"1": 2, "2": 10, "3": 200, "4": 20}
    assert scans["1"].series_description == "Topogram 0.6 T20f"
    assert scans["2"].series_description == "ABDOMEN 20mm"
    assert scans["3"].series_description == "ABDOMEN 1mm THIN"
    assert scans["4"].series_description == "ABDOMEN 10mm THICK"
    assert all(s.type == s.series_description for s in scans.values())


def test_the_series_are_one_study_on_one_frame_of_reference_over_the_same_length(
    sandbox: Any, seeded: list[Any], tmp_path: Path
) -> None:
    clinical = seeded[1]
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        for scan_id in clinical.scan_ids:
            download_resource(
                client,
                paths.scan(clinical.session_id, scan_id),
                "DICOM",
                tmp_path / scan_id,
                show_progress=False,
            )
    headers = {
        scan_id: pydicom.dcmread(next((tmp_path / scan_id).glob("*.dcm")), stop_before_pixels=True)
        for scan_id in clinical.scan_ids
    }
    assert len({h.StudyInstanceUID for h in headers.values()}) == 1
    assert len({h.FrameOfReferenceUID for h in headers.values()}) == 1
    assert len({h.SeriesInstanceUID for h in headers.values()}) == 4
    assert headers["2"].SeriesInstanceUID == clinical.series_uid
    assert list(headers["1"].ImageType) == ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    assert [int(h.SeriesNumber) for h in headers.values()] == [1, 2, 3, 4]
    axial, thin, thick = (read_series(tmp_path / s) for s in ("2", "3", "4"))
    assert thin.spacing[2] == pytest.approx(1.0) and thick.spacing[2] == pytest.approx(10.0)
    for other in (thin, thick):
        assert other.shape[:2] == axial.shape[:2]
        length = (np.asarray(other.shape) * np.asarray(other.spacing))[2]
        assert length == pytest.approx(axial.shape[2] * axial.spacing[2])


def _infer_scan(sandbox: Any, session_id: str, rule: ScanRule | None) -> str:
    infer, _classifier, _detector = step_commands("infer", variant=_cpu())
    config = {"inputs": {"scan": {"matcher": rule.matcher()}}} if rule else None
    with XnatRest(sandbox.url, sandbox.user, sandbox.password) as xnat:
        resolved = resolve_wrapper(
            infer,
            "monai-segment-session-cpu",
            f"/experiments/{session_id}",
            {"model-name": "organs"},
            xnat,
            config,
        )
    words = resolved.command_line.split()
    return words[words.index("--scan-id") + 1]


def _cpu() -> Any:
    from xnat_plugin.commands.catalogue import CPU

    return CPU


def test_the_default_rule_takes_the_only_series_and_refuses_to_guess_among_three(
    sandbox: Any, seeded: list[Any]
) -> None:
    simple, clinical = seeded
    assert _infer_scan(sandbox, simple.session_id, None) == "2"
    with pytest.raises(CommandResolutionError, match="does not have a unique, resolved value"):
        _infer_scan(sandbox, clinical.session_id, None)


def test_the_demo_rule_takes_the_axial_series_of_every_session(
    sandbox: Any, seeded: list[Any]
) -> None:
    rule = ScanRule(description=AXIAL_DESCRIPTION_PATTERN)
    for session in seeded:
        assert _infer_scan(sandbox, session.session_id, rule) == session.scan_id
