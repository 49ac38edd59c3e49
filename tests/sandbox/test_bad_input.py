"""Bad input is answered the XNAT way and leaves nothing behind."""

from __future__ import annotations

import http.client
import sqlite3
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from tests.sandbox.xml_documents import roi_collection_xml
from xnat_plugin.sandbox.server import SandboxServer

SESSION = "/data/projects/P/subjects/s1/experiments/s1_CT"


@pytest.fixture
def admin(sandbox: SandboxServer) -> requests.Session:
    session = requests.Session()
    session.auth = (sandbox.user, sandbox.password)
    base = sandbox.url
    assert session.put(f"{base}/data/projects/P").status_code == 201
    assert session.put(f"{base}/data/projects/P/subjects/s1").status_code == 201
    made = session.put(f"{base}{SESSION}", params={"xsiType": "xnat:ctSessionData"})
    assert made.text == "XNAT_E00001"
    return session


def _count(sandbox: SandboxServer, sql: str) -> int:
    with sqlite3.connect(sandbox.data_dir / "sandbox.db") as conn:
        return int(conn.execute(sql).fetchone()[0])


def _archive_files(sandbox: SandboxServer) -> list[Path]:
    return sorted(
        p for p in sandbox.data_dir.rglob("*") if p.is_file() and "sandbox.db" not in p.name
    )


def test_malformed_xml_is_refused_with_the_parser_reason(sandbox, admin) -> None:
    """`SecureResource.loadItem`: a SAXParseException is 422 "An error occurred parsing the XML"."""
    before = _count(sandbox, "SELECT COUNT(*) FROM experiments")
    answer = admin.put(f"{sandbox.url}{SESSION}/assessors/broken", data=b"<icr:RoiCollection")
    assert answer.status_code == 422
    assert answer.text.startswith("An error occurred parsing the XML: malformed XML")
    assert _count(sandbox, "SELECT COUNT(*) FROM experiments") == before
    assert _count(sandbox, "SELECT COUNT(*) FROM claimed_ids WHERE kind = 'experiment'") == 1


def test_schema_invalid_assessor_is_refused_with_the_validator_reason(sandbox, admin) -> None:
    """`ExptAssessmentResource.handlePut`: `assessor.validate()` fails → 400 with its reasons."""
    xml = roi_collection_xml("XNAT_E00001", "XNAT_S00001", "bad").replace(
        "<icr:collectionType>SEG</icr:collectionType>", ""
    )
    answer = admin.put(f"{sandbox.url}{SESSION}/assessors/bad", data=xml.encode())
    assert answer.status_code == 400
    assert "collectionType" in answer.text
    assert _count(sandbox, "SELECT COUNT(*) FROM experiments WHERE session_id IS NOT NULL") == 0
    assert admin.get(f"{sandbox.url}{SESSION}/assessors/bad").status_code == 404


def test_the_url_names_the_session_of_an_assessor_put_over_rest(sandbox, admin) -> None:
    """`ExptAssessmentResource.handlePut` sets the session it was PUT under
    (`assessor.setImagesessionId(assesed.getId())`), whatever `imageSession_ID` said."""
    xml = roi_collection_xml("XNAT_E09999", "XNAT_S00001", "elsewhere")
    answer = admin.put(f"{sandbox.url}{SESSION}/assessors/elsewhere", data=xml.encode())
    assert answer.status_code == 201
    stored = admin.get(f"{sandbox.url}{SESSION}/assessors/elsewhere", params={"format": "xml"})
    assert "<xnat:imageSession_ID>XNAT_E00001</xnat:imageSession_ID>" in stored.text
    assert "XNAT_E09999" not in stored.text


def test_an_xml_id_that_exists_updates_instead_of_duplicating(sandbox, admin) -> None:
    uri = f"{sandbox.url}{SESSION}/assessors/seg"
    first = admin.put(uri, data=roi_collection_xml("XNAT_E00001", "XNAT_S00001", "seg").encode())
    assert first.status_code == 201
    again = roi_collection_xml("XNAT_E00001", "XNAT_S00001", "seg", with_id=first.text)
    second = admin.put(uri, data=again.replace("liver-spleen-kidney", "v2").encode())
    assert (second.status_code, second.text) == (200, first.text)
    assert "v2" in admin.get(uri, params={"format": "xml"}).text
    assert _count(sandbox, "SELECT COUNT(*) FROM experiments WHERE session_id IS NOT NULL") == 1


@pytest.mark.parametrize(
    "path",
    [
        "/data/projects/NOPE/subjects/s9",
        "/data/projects/P/subjects/s1/experiments/missing/scans/1",
        "/data/experiments/XNAT_E09999/assessors/a",
        "/data/experiments/XNAT_E09999/resources/R/files/a.txt",
    ],
)
def test_unknown_parents_give_404_and_create_nothing(sandbox, admin, path: str) -> None:
    before = _archive_files(sandbox)
    answer = admin.put(f"{sandbox.url}{path}", params={"xsiType": "xnat:ctSessionData"}, data=b"x")
    assert answer.status_code == 404
    assert _archive_files(sandbox) == before
    assert _count(sandbox, "SELECT COUNT(*) FROM subjects") == 1


def _raw_put(sandbox: SandboxServer, path: str, body: bytes) -> int:
    """PUT with the path exactly as given (requests would normalise `..` away)."""
    url = urlparse(sandbox.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    import base64

    token = base64.b64encode(f"{sandbox.user}:{sandbox.password}".encode()).decode()
    conn.request("PUT", path, body=body, headers={"Authorization": f"Basic {token}"})
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.mark.parametrize(
    "name",
    ["../../../escaped.txt", "..%2F..%2Fescaped.txt", "a/../../escaped.txt", "%2Fescaped.txt"],
)
def test_file_names_that_leave_the_resource_are_refused(sandbox, admin, name: str) -> None:
    admin.put(f"{sandbox.url}{SESSION}/resources/NOTES")
    status = _raw_put(sandbox, f"{SESSION}/resources/NOTES/files/{name}", b"evil")
    assert status in (400, 404)
    assert not any(p.name == "escaped.txt" for p in sandbox.data_dir.parent.rglob("escaped.txt"))
    assert _count(sandbox, "SELECT COUNT(*) FROM files") == 0


def test_multipart_file_names_with_dotdot_are_refused(sandbox, admin) -> None:
    answer = admin.post(
        f"{sandbox.url}{SESSION}/resources/NOTES/files",
        files={"file": ("../escaped.txt", b"evil")},
    )
    assert answer.status_code == 400
    assert not list(sandbox.data_dir.parent.rglob("escaped.txt"))


def test_an_existing_file_needs_overwrite(sandbox, admin) -> None:
    uri = f"{sandbox.url}{SESSION}/resources/NOTES/files/a.txt"
    assert admin.put(uri, data=b"one").status_code == 200
    refused = admin.put(uri, data=b"two")
    assert refused.status_code == 409
    assert admin.get(uri).content == b"one"
    assert admin.put(uri, params={"overwrite": "true"}, data=b"two").status_code == 200
    assert admin.get(uri).content == b"two"
    rows = admin.get(f"{sandbox.url}{SESSION}/resources/NOTES/files").json()["ResultSet"]["Result"]
    assert [(r["Name"], r["Size"]) for r in rows] == [("a.txt", "3")]


def test_uploads_in_every_client_style_arrive_intact(sandbox, admin) -> None:
    base = f"{sandbox.url}{SESSION}/resources/NOTES/files"
    assert admin.put(f"{base}/raw.bin", data=b"\x00raw").status_code == 200
    assert (
        admin.put(f"{base}/inbody.bin", params={"inbody": "true"}, data=b"\x01in").status_code
        == 200
    )
    multi = admin.post(f"{base}/multi.bin", files={"file": ("whatever.bin", b"\x02mp")})
    assert multi.status_code == 200
    named = admin.post(base, files={"file": ("named.bin", b"\x03nm")})
    assert named.status_code == 200
    got = {
        n: admin.get(f"{base}/{n}").content
        for n in ("raw.bin", "inbody.bin", "multi.bin", "named.bin")
    }
    assert got == {
        "raw.bin": b"\x00raw",
        "inbody.bin": b"\x01in",
        "multi.bin": b"\x02mp",
        "named.bin": b"\x03nm",
    }


def test_failed_requests_leave_no_spooled_uploads(sandbox, admin) -> None:
    uri = f"{sandbox.url}{SESSION}/resources/NOTES/files/a.txt"
    admin.put(uri, data=b"one")
    admin.put(uri, data=b"two" * 1000)  # 409
    admin.put(f"{sandbox.url}{SESSION}/assessors/x", data=b"<not-xml")  # 400
    assert list((sandbox.data_dir / "spool").iterdir()) == []


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_extract_true_unpacks_a_zip_into_the_resource(sandbox, admin) -> None:
    base = f"{sandbox.url}{SESSION}/resources/BUNDLE/files"
    body = _zip_bytes({"configs/metadata.json": b"{}", "models/model.pt": b"weights"})
    assert admin.put(f"{base}/bundle.zip", params={"extract": "true"}, data=body).ok
    rows = admin.get(base).json()["ResultSet"]["Result"]
    assert sorted(r["URI"].split("/files/", 1)[1] for r in rows) == [
        "configs/metadata.json",
        "models/model.pt",
    ]
    assert admin.get(f"{base}/models/model.pt").content == b"weights"


def test_a_zip_with_an_escaping_member_is_refused_whole(sandbox, admin) -> None:
    base = f"{sandbox.url}{SESSION}/resources/EVIL/files"
    body = _zip_bytes({"ok.txt": b"fine", "../../escaped.txt": b"evil"})
    answer = admin.put(f"{base}/x.zip", params={"extract": "true"}, data=body)
    assert answer.status_code == 400
    assert not list(sandbox.data_dir.parent.rglob("escaped.txt"))
    assert not list(sandbox.data_dir.rglob("ok.txt"))
    # the refused upload did not even leave its resource behind
    resources = admin.get(f"{sandbox.url}{SESSION}/resources").json()["ResultSet"]["Result"]
    assert [r["label"] for r in resources] == []


def test_listing_an_unknown_project_is_404_but_a_removed_session_lists_empty(
    sandbox, admin
) -> None:
    assert admin.get(f"{sandbox.url}/data/projects/NOPE/subjects").status_code == 404
    assert admin.delete(f"{sandbox.url}{SESSION}").status_code == 200
    # what xnatpy re-reads after deleting a session whose scans it had listed
    gone = admin.get(f"{sandbox.url}{SESSION}/scans", params={"format": "json"})
    assert gone.status_code == 200
    assert gone.json()["ResultSet"]["Result"] == []
    assert admin.get(f"{sandbox.url}{SESSION}").status_code == 404


def test_a_session_label_used_by_another_subject_is_a_conflict(sandbox, admin) -> None:
    admin.put(f"{sandbox.url}/data/projects/P/subjects/s2")
    answer = admin.put(
        f"{sandbox.url}/data/projects/P/subjects/s2/experiments/s1_CT",
        params={"xsiType": "xnat:ctSessionData"},
    )
    assert answer.status_code == 409
    assert _count(sandbox, "SELECT COUNT(*) FROM experiments") == 1


def test_an_experiment_put_under_a_missing_subject_creates_the_subject(sandbox, admin) -> None:
    """`SubjAssessmentResource.handlePut`: the URL's subject is made when missing
    (`createNewSubject`, label = the URL's value, ID generated)."""
    made = admin.put(
        f"{sandbox.url}/data/projects/P/subjects/newcomer/experiments/newcomer_CT",
        params={"xsiType": "xnat:ctSessionData"},
    )
    assert (made.status_code, made.text) == (201, "XNAT_E00002")
    subject = admin.get(
        f"{sandbox.url}/data/projects/P/subjects/newcomer", params={"format": "json"}
    )
    assert subject.json()["items"][0]["data_fields"]["ID"] == "XNAT_S00002"
    session = admin.get(f"{sandbox.url}/data/experiments/XNAT_E00002", params={"format": "json"})
    assert session.json()["items"][0]["data_fields"]["subject_ID"] == "XNAT_S00002"
