"""The train wrapper through `xnat-monai run` (process backend), on a project built over REST.

`xnat-monai run` has no access to the XNAT's archive, so it stages the `project` mount over
REST. Container Service mounts a project as its current archive directory (`Project
.populateProperties`: `getRootArchivePath() + getCurrentArc()`, mounted by
`CommandResolutionServiceImpl.resolveMountPathForModelObject`): one folder per session, which is
what the staging must hold, whatever the input's `load-children`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.client import XnatClient, connect, paths
from xnat_plugin.client.assessor_store import create_assessor, upload_assessor_files
from xnat_plugin.client.browse import list_files
from xnat_plugin.client.objects import create_scan, create_session, ensure_project, ensure_subject
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.runner.xnat_rest import XnatRest
from xnat_plugin.sandbox.seed.ct_series import SeriesIdentity, write_ct_series
from xnat_plugin.sandbox.seed.manual_seg import write_manual_seg
from xnat_plugin.sandbox.seed.phantom import make_phantom
from xnat_plugin.sandbox.seed.sites import site_for_session

REPO = Path(__file__).resolve().parents[2]
PROJECT = "P501"


def add_session_over_rest(client: XnatClient, index: int) -> str:
    """A CT session and its manual SEG, made through the client layer as a user would (labels
    and scan number unlike those `sandbox seed` writes)."""
    subject, session = f"PAT{index:02d}", f"PAT{index:02d}_abdomen"
    phantom = make_phantom(500 + index, site_for_session(index, 2), matrix=48, slices=24)
    identity = SeriesIdentity.for_subject(500 + index, subject, session)
    subject_id = ensure_subject(client, PROJECT, subject)
    session_id = create_session(client, PROJECT, subject, session)
    # With its frame count, as XNAT's DICOM import records it: the scan rule passes over scans
    # with fewer than 10 frames (localizers), and over scans that say none.
    create_scan(client, session_id, "3", scan_type="CT", modality="CT", frames=24)
    with tempfile.TemporaryDirectory() as scratch:
        ct_files = write_ct_series(phantom, Path(scratch) / "DICOM", identity)
        upload_folder(
            client, paths.scan(session_id, "3"), "DICOM", Path(scratch) / "DICOM",
            show_progress=False,
        )  # fmt: skip
        label = f"{session}_manual_SEG"
        seg = write_manual_seg(phantom, ct_files, Path(scratch) / "SEG" / "reference.dcm")
        roi = RoiCollection(
            label=label,
            project=PROJECT,
            session_id=session_id,
            subject_id=subject_id,
            uid=str(seg.SOPInstanceUID),
            series_uids=[identity.series_uid],
        )
        assessor_id = create_assessor(client, session_id, roi.to_xml())
        upload_assessor_files(
            client, session_id, assessor_id, "SEG", Path(scratch) / "SEG", show_progress=False
        )
    return session


@pytest.mark.slow
def test_the_train_wrapper_runs_through_xnat_monai_run_on_a_project_built_over_rest(
    sandbox: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from xnat_plugin.cli import main

    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        ensure_project(client, PROJECT)
        sessions = [add_session_over_rest(client, index) for index in (1, 2, 3)]
    # Registered as an admin registers it; `run` finds it by wrapper name.
    train_command, _classifier = json.loads(
        (REPO / "command_json" / "xnat-monai-train-cpu.json").read_text()
    )
    XnatRest(sandbox.url, sandbox.user, sandbox.password).post(
        "/xapi/commands",
        body=json.dumps(train_command),
        headers={"Content-Type": "application/json"},
    )

    code = main(
        [
            "run", "--xnat", sandbox.url, "--user", sandbox.user, "--password", sandbox.password,
            "--wrapper", "monai-train-project-cpu", "--target", f"/projects/{PROJECT}",
            "--input", "model-name=organs", "--input", "epochs=1", "--input", "folds=1",
            "--input", "patch-size=32,32,16", "--workdir", str(tmp_path / "runs"),
        ]
    )  # fmt: skip

    summary = json.loads(capsys.readouterr().out)
    workdir = Path(summary["workdir"])
    stderr = (workdir / "logs" / "stderr.log").read_text() if code else ""
    assert code == 0, stderr[-3000:]
    assert summary["status"] == "Complete"
    assert "model-resource" in summary["outputs"]
    # The mount held the sessions, as the archive directory would: no project resources.
    mount = workdir / "staging" / "mounts" / "project"
    assert sorted(p.name for p in mount.iterdir()) == sorted(sessions)
    assert list(mount.glob("PAT01_abdomen/SCANS/3/DICOM/*.dcm"))
    assert list(mount.glob("PAT01_abdomen/ASSESSORS/PAT01_abdomen_manual_SEG/SEG/*.dcm"))

    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        stored = {f.path for f in list_files(client, paths.project(PROJECT), "MONAI_MODELS")}
    assert {"organs/configs/metadata.json", "organs/models/model.pt"} <= stored
    metadata = json.loads(
        (workdir / "staging/mounts/output/organs/configs/metadata.json").read_text()
    )
    trained_on = {row["session"] for row in metadata["xnat_monai"]["training"]["data"]}
    assert trained_on == set(sessions)
