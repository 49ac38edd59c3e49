"""The XNAT object JSON built over REST from a running sandbox, for every URI form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.runner.test_engine import seed_session
from xnat_plugin.assessors import QcAssessment, ScanStatistics
from xnat_plugin.errors import UserError
from xnat_plugin.runner.matchers import filter_children
from xnat_plugin.runner.xnat_objects import XnatObjectLoader
from xnat_plugin.runner.xnat_rest import XnatRest


@pytest.fixture
def seeded(sandbox: Any, tmp_path: Path) -> tuple[XnatRest, str, str]:
    rest = XnatRest(sandbox.url, sandbox.user, sandbox.password)
    session_id = seed_session(rest, tmp_path)
    xml = QcAssessment(
        label="CT_001_qc",
        project="P1",
        session_id=session_id,
        scans=[ScanStatistics(scan_id="1", statistics={"dice": 0.9})],
    ).to_xml()
    assessor_id = rest.put_assessor_xml(
        f"/archive/experiments/{session_id}", "CT_001_qc", xml.encode()
    )
    note = tmp_path / "note.txt"
    note.write_text("hello")
    assessor_uri = f"/archive/experiments/{session_id}/assessors/{assessor_id}"
    rest.create_resource(assessor_uri, "NOTES", {})
    rest.upload_file(assessor_uri, "NOTES", "note.txt", note)
    rest.create_resource("/archive/projects/P1", "MONAI_MODELS", {})
    rest.upload_file("/archive/projects/P1", "MONAI_MODELS", "liver/configs/metadata.json", note)
    return rest, session_id, assessor_id


def test_a_session_carries_scans_resources_files_and_assessors(
    seeded: tuple[XnatRest, str, str],
) -> None:
    rest, session_id, assessor_id = seeded
    session = XnatObjectLoader(rest).load(f"/experiments/{session_id}")
    assert session.kind == "Session"
    assert session.json["xsiType"] == "xnat:ctSessionData"
    assert session.json["project-id"] == "P1"
    assert session.json["label"] == "CT_001"
    scan = session.json["scans"][0]
    assert scan["scan-type"] == "ABD CT"
    assert scan["uri"] == f"/archive/experiments/{session_id}/scans/1"
    assert [f["name"] for f in scan["resources"][0]["files"]] == ["series/1.dcm", "series/2.dcm"]
    assert filter_children(session.json["scans"], "'DICOM' in @.resources[*].label") == [scan]
    [assessor] = session.json["assessors"]
    assert assessor["id"] == assessor_id
    assert assessor["xsiType"] == "xnat:qcAssessmentData"
    assert assessor["resources"][0]["label"] == "NOTES"


@pytest.mark.parametrize(
    "uri, kind",
    [
        ("/archive/experiments/{s}", "Session"),
        ("/data/projects/P1/subjects/S1/experiments/CT_001", "Session"),
        ("/experiments/{s}/scans/1", "Scan"),
        ("/experiments/{s}/scans/1/resources/DICOM", "Resource"),
        ("/experiments/{s}/scans/1/resources/DICOM/files/series/2.dcm", "File"),
        ("/experiments/{s}/assessors/{a}", "Assessor"),
        ("/experiments/{s}/assessors/{a}/out/resources/NOTES", "Resource"),
        ("/experiments/{a}", "Assessor"),
        ("/projects/P1", "Project"),
        ("/projects/P1/resources/MONAI_MODELS", "Resource"),
        ("/projects/P1/subjects/S1", "Subject"),
    ],
)
def test_every_uri_form_names_the_right_kind_of_object(
    seeded: tuple[XnatRest, str, str], uri: str, kind: str
) -> None:
    rest, session_id, assessor_id = seeded
    obj = XnatObjectLoader(rest).load(uri.format(s=session_id, a=assessor_id))
    assert obj.kind == kind
    assert obj.uri.startswith("/archive/")


def test_a_subject_lists_its_sessions_and_a_project_its_subjects(
    seeded: tuple[XnatRest, str, str],
) -> None:
    rest, session_id, _ = seeded
    subject = XnatObjectLoader(rest).load("/projects/P1/subjects/S1")
    assert [s["id"] for s in subject.json["sessions"]] == [session_id]
    project = XnatObjectLoader(rest).load("/projects/P1")
    assert [s["label"] for s in project.json["subjects"]] == ["S1"]
    models = project.json["resources"][0]
    assert models["files"][0]["name"] == "liver/configs/metadata.json"


def test_an_unknown_object_is_a_user_error_naming_the_uri(
    seeded: tuple[XnatRest, str, str],
) -> None:
    rest, _, _ = seeded
    with pytest.raises(UserError, match="/experiments/XNAT_E99999"):
        XnatObjectLoader(rest).load("/experiments/XNAT_E99999")
    with pytest.raises(UserError, match="not an XNAT object URI"):
        XnatObjectLoader(rest).load("/nothing/here")


def test_preresolve_offers_the_models_a_project_holds(
    seeded: tuple[XnatRest, str, str], tmp_path: Path
) -> None:
    from xnat_plugin.commands.catalogue import step_commands
    from xnat_plugin.runner.resolve import preresolve

    rest, session_id, _ = seeded
    bundle_file = tmp_path / "model.pt"
    bundle_file.write_bytes(b"weights")
    rest.upload_file("/archive/projects/P1", "MONAI_MODELS", "spleen/models/model.pt", bundle_file)
    infer, _classifier, _detector = step_commands("infer")
    report = preresolve(infer, "monai-segment-session", f"/experiments/{session_id}", rest)
    [models] = report["inputs"]["models"]["values"]
    assert models["folders"] == ["liver", "spleen"]
