"""The classify wrapper (`monai-classify-session-cpu`) through `xnat-monai run` on a seeded
classification project: Container Service's resolution (the derived Scan input `scan` by the
project's scan rule, MONAI_MODELS mounted), the step, and the upload of the
`xnat:qcAssessmentData` with its REPORT and EXPLANATION resources, which the sandbox validates
as sent (XNAT's `XMLValidator` on the assessor document)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pydicom
import pytest

from containers.classify.__main__ import build_parser
from containers.classify.infer import run as infer
from tests.classification.lesion_cases import TINY, make_cases, train_bundle
from xnat_plugin.assessors.qc_assessment import QcAssessment
from xnat_plugin.cli import main
from xnat_plugin.client import browse, connect
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.commands.scan_rule import ScanRule
from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.archive import archive_directory
from xnat_plugin.sandbox.seed.clinical_series import AXIAL_DESCRIPTION_PATTERN
from xnat_plugin.sandbox.seed.liver_lesion import CLASSES

REPO = Path(__file__).resolve().parents[2]
COMMAND_FILE = REPO / "command_json" / "xnat-monai-infer-cpu.json"
WRAPPER = "monai-classify-session-cpu"


def command_file_with_the_projects_scan_rule(folder: Path) -> Path:
    """The infer image's commands with the classify wrapper's `scan` matcher set to the axial
    series rule, as `xnat-monai install --scan-rule` configures it for a project."""
    commands = json.loads(COMMAND_FILE.read_text())
    matcher = ScanRule(description=AXIAL_DESCRIPTION_PATTERN).matcher()
    for command in commands:
        for wrapper in command["xnat"]:
            for derived in wrapper.get("derived-inputs", []):
                if derived["name"] == "scan":
                    derived["matcher"] = matcher
    path = folder / "commands.json"
    path.write_text(json.dumps(commands))
    return path


@pytest.mark.slow
def test_the_classify_wrapper_puts_a_searchable_assessor_with_its_explanation_on_the_session(
    sandbox: Any, tmp_path: Path
) -> None:
    code = main(
        [
            "sandbox", "seed", "--xnat", sandbox.url, "--project", "CLS", "--sessions", "1",
            "--sites", "1", "--seed", "5", "--task", "classification", "--no-reference",
            "--user", sandbox.user, "--password", sandbox.password,
        ]
    )  # fmt: skip
    assert code == 0
    cases = make_cases(tmp_path / "cases", 4)
    bundle = train_bundle(tmp_path / "models", "lesion_cls", cases, cases[:2], TINY)
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        upload_folder(client, "/data/projects/CLS", "MONAI_MODELS", bundle.parent,
                      show_progress=False)  # fmt: skip
        (session,) = browse.list_sessions(client, "CLS")
        code = main(
            [
                "run", "--xnat", sandbox.url, "--user", sandbox.user, "--password",
                sandbox.password, "--wrapper", WRAPPER, "--target", f"/experiments/{session.id}",
                "--command-file", str(command_file_with_the_projects_scan_rule(tmp_path)),
                "--project", "CLS", "--input", "model-name=lesion_cls",
                "--workdir", str(tmp_path / "run"),
            ]
        )  # fmt: skip
        assert code == 0
        (assessor,) = [
            a for a in browse.list_assessors(client, session.id)
            if a.xsi_type == "xnat:qcAssessmentData"
        ]  # fmt: skip
        axial = next(
            s for s in browse.list_scans(client, session.id)
            if re.fullmatch(AXIAL_DESCRIPTION_PATTERN, s.series_description, re.IGNORECASE)
        )  # fmt: skip
        xml = client.get(f"/data/experiments/{session.id}/assessors/{assessor.id}?format=xml")
    document = QcAssessment.from_xml(xml.content)
    assert document.id == assessor.id
    (scan,) = document.scans
    assert scan.scan_id == axial.id
    assert set(scan.statistics) == {f"prob_{c}" for c in CLASSES}
    assert sum(scan.statistics.values()) == pytest.approx(1.0, abs=1e-9)
    assert document.fields["predicted_class"] in CLASSES

    assessor_uri = f"/experiments/{session.id}/assessors/{assessor.label}"

    def resource_folder(name: str) -> Path:
        return Path(archive_directory(sandbox.data_dir, f"{assessor_uri}/resources/{name}"))

    (report_file,) = sorted(resource_folder("REPORT").rglob("classification.json"))
    report = json.loads(report_file.read_text())
    assert report["scan_id"] == axial.id
    assert report["probabilities"] == pytest.approx(
        {c[len("prob_") :]: v for c, v in scan.statistics.items()}
    )
    assert sorted(resource_folder("REPORT").rglob("explanation.png"))
    captures = sorted(resource_folder("EXPLANATION").rglob("*.dcm"))
    assert len(captures) == len(report["explanation"]["slices"])
    first = pydicom.dcmread(captures[0], stop_before_pixels=True)
    assert first.ReferencedSeriesSequence[0].SeriesInstanceUID == report["series_instance_uid"]

    # Without --input the step picks the scan itself, by the same rule, through XNAT; a rule
    # that picks none is refused with the session and the reason.
    def direct(output: str, description: str) -> list[str]:
        return [
            "infer", "--session-id", session.id, "--project", "CLS", "--model-name",
            "lesion_cls", "--model", str(bundle.parent), "--output", str(tmp_path / output),
            "--scan-description", description, "--device", "cpu",
        ]  # fmt: skip

    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        chosen = infer(
            build_parser().parse_args(direct("direct", AXIAL_DESCRIPTION_PATTERN)), client
        )
        assert (chosen.scan_id, chosen.session_label) == (axial.id, session.label)
        assert chosen.probabilities == pytest.approx(report["probabilities"])
        with pytest.raises(UserError, match=f"session {session.label}: no scan matches"):
            infer(build_parser().parse_args(direct("none", "NO SUCH SERIES")), client)
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").iterdir())
