"""The real xnatpy client, unmodified, against a running sandbox."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import xnat

from tests.sandbox.xml_documents import qc_assessment_xml, roi_collection_xml
from xnat_plugin.sandbox.server import SandboxServer


@pytest.fixture
def connection(sandbox: SandboxServer) -> Iterator[xnat.XNATSession]:
    with xnat.connect(sandbox.url, user=sandbox.user, password=sandbox.password) as session:
        yield session


@pytest.fixture
def ct_session(connection: xnat.XNATSession):  # type: ignore[no-untyped-def]
    connection.put("/data/projects/LIVER")
    connection.projects.clearcache()
    project = connection.projects["LIVER"]
    subject = connection.classes.SubjectData(parent=project, label="patient01")
    session = connection.classes.CtSessionData(parent=subject, label="patient01_CT")
    return session


def test_xnatpy_creates_and_lists_projects_subjects_and_sessions(connection, ct_session) -> None:
    project = connection.projects["LIVER"]
    assert list(project.subjects.keys()) == ["XNAT_S00001"]
    assert project.subjects["patient01"].label == "patient01"
    assert ct_session.id == "XNAT_E00001"
    # XNAT sets no modality on a session created over REST (only the DICOM import does).
    assert ct_session.modality is None
    experiments = connection.projects["LIVER"].subjects["patient01"].experiments
    assert experiments["patient01_CT"].id == "XNAT_E00001"
    assert connection.experiments["XNAT_E00001"].label == "patient01_CT"
    assert ct_session.__xsi_type__ == "xnat:ctSessionData"


def test_xnatpy_creates_scans_with_their_type(connection, ct_session) -> None:
    connection.classes.CtScanData(parent=ct_session, id="1", type="CT", series_description="abd")
    connection.classes.CtScanData(parent=ct_session, id="2", type="LOCALIZER")
    ct_session.clearcache()
    scans = ct_session.scans
    assert sorted(scans.keys()) == ["1", "2"]
    assert scans["1"].type == "CT"
    assert scans["1"].series_description == "abd"
    assert scans["2"].__xsi_type__ == "xnat:ctScanData"


def test_xnatpy_uploads_and_downloads_files_single_and_zip(
    connection, ct_session, tmp_path: Path
) -> None:
    scan = connection.classes.CtScanData(parent=ct_session, id="1", type="CT")
    resource = scan.create_resource("DICOM")
    payloads = {f"slice{i:03d}.dcm": bytes([i]) * (1000 + i) for i in range(5)}
    for name, data in payloads.items():
        resource.upload_data(data, name)
    resource.clearcache()
    files = resource.files
    assert sorted(f.path for f in files.values()) == sorted(payloads)
    listing = connection.get_json(f"{resource.uri}/files")["ResultSet"]["Result"]
    by_name = {row["Name"]: row for row in listing}
    assert by_name["slice002.dcm"]["digest"] == hashlib.md5(payloads["slice002.dcm"]).hexdigest()
    assert by_name["slice002.dcm"]["Size"] == str(len(payloads["slice002.dcm"]))
    assert by_name["slice002.dcm"]["collection"] == "DICOM"

    target = tmp_path / "one.dcm"
    files["slice003.dcm"].download(str(target))
    assert target.read_bytes() == payloads["slice003.dcm"]

    ct_session.download_dir(str(tmp_path / "all"))
    found = {p.name: p.read_bytes() for p in (tmp_path / "all").rglob("*.dcm")}
    assert found == payloads

    zip_path = tmp_path / "res.zip"
    resource.download(str(zip_path))
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(n.rsplit("/", 1)[-1] for n in zf.namelist())
    assert names == sorted(payloads)


def test_xnatpy_project_resources_hold_nested_folders(connection, ct_session) -> None:
    project = connection.projects["LIVER"]
    models = project.create_resource("MONAI_MODELS")
    models.upload_data(b'{"name": "spleen"}', "spleen/configs/metadata.json")
    models.clearcache()
    assert "spleen/configs/metadata.json" in [f.path for f in models.files.values()]


def test_xnatpy_creates_an_assessor_from_xml_reads_it_back_and_deletes_it(
    connection, ct_session
) -> None:
    subject_id = ct_session.subject_id
    uri = f"{ct_session.uri}/assessors/patient01_CT_manual_SEG"
    xml = roi_collection_xml(ct_session.id, subject_id, "patient01_CT_manual_SEG")
    response = connection.put(uri, data=xml.encode(), headers={"Content-Type": "text/xml"})
    assessor_id = response.text.strip()
    assert assessor_id == "XNAT_E00002"

    ct_session.clearcache()
    assessor = ct_session.assessors["patient01_CT_manual_SEG"]
    assert assessor.__xsi_type__ == "icr:roiCollectionData"
    assert assessor.collection_type == "SEG"
    stored = ET.fromstring(connection.get(f"{uri}?format=xml").content)
    assert stored.get("ID") == assessor_id
    assert stored.find("{http://icr.ac.uk/icr}UID").text == "1.2.826.0.1.3680043.8.498.1"

    seg = assessor.create_resource("SEG")
    seg.upload_data(b"DICM-seg", "seg.dcm")
    assert connection.get(f"{uri}/resources/SEG/files/seg.dcm").content == b"DICM-seg"

    assessor.delete()
    ct_session.clearcache()
    assert list(ct_session.assessors.keys()) == []
    assert connection.get(uri, accepted_status=[404]).status_code == 404


def test_xnatpy_reads_qc_assessment_statistics(connection, ct_session) -> None:
    uri = f"{ct_session.uri}/assessors/patient01_CT_monai_eval_20260101000000"
    answer = connection.put(uri, data=qc_assessment_xml(ct_session.id, "x", 0.91).encode())
    assessor_uri = f"/data/experiments/{answer.text.strip()}"
    stored = ET.fromstring(connection.get(f"{assessor_uri}?format=xml").content)
    value = stored.find(".//{http://nrg.wustl.edu/xnat}additionalStatistics")
    assert value is not None and float(value.text) == pytest.approx(0.91)
    assert stored.get("label") == "x"  # the document's own label wins, as in XNAT


def test_an_assessor_is_created_from_query_fields_like_xnatpy_sends(connection, ct_session) -> None:
    # The request of xnatpy's `create_assessor` (whose own follow-up lookup fails in 0.8.1).
    answer = connection.put(
        f"{ct_session.fulluri}/assessors/qc_by_query",
        query={"xsiType": "xnat:qcAssessmentData", "label": "qc_by_query", "req_format": "qs"},
    )
    assessor_id = answer.text.strip()
    assert assessor_id.startswith("XNAT_E")
    item = connection.get_json(f"/data/experiments/{assessor_id}")["items"][0]
    assert item["meta"]["xsi:type"] == "xnat:qcAssessmentData"
    assert item["data_fields"]["label"] == "qc_by_query"
    ct_session.clearcache()
    assert ct_session.assessors["qc_by_query"].id == assessor_id


def test_xnatpy_deletes_a_session_with_its_files(connection, ct_session, sandbox) -> None:
    scan = connection.classes.CtScanData(parent=ct_session, id="1", type="CT")
    scan.create_resource("DICOM").upload_data(b"x", "a.dcm")
    folder = sandbox.data_dir / "archive" / "LIVER" / "arc001" / "patient01_CT"
    assert (folder / "SCANS" / "1" / "DICOM" / "a.dcm").exists()
    # Delete through a listed object: xnatpy's delete only knows objects from its cache.
    connection.experiments[ct_session.id].delete()
    assert not folder.exists()
    assert connection.get("/data/experiments/XNAT_E00001", accepted_status=[404]).status_code == 404
