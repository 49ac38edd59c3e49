"""An outsider (a user who is a member of his own project only) against every data route of a
project he has no role in: he reads nothing of it, changes nothing in it, and learns no more
than that he may not.

XNAT checks each request against the user's project roles (`Permissions.canRead`/`canEdit`/
`canDelete`, through `SecureResource` and `XnatExperimentdata.getXnatExperimentdatasById(id,
user, …)`, which finds nothing the user may not read): the answer is 403 or 404, never the data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.attack_helpers import (
    VICTIM,
    VICTIM_FILES,
    VICTIM_SESSION,
    Stage,
    build_stage,
    files_on_disk,
    new_files_outside_archive,
    raw_request,
    victim_files_intact,
)
from tests.sandbox.xml_documents import roi_collection_xml
from xnat_plugin.sandbox.server import running_sandbox

SCAN = f"{VICTIM_SESSION}/scans/1"
VICTIM_ID = "XNAT_E00001"  # the victim's session, made first

OUTSIDER_PROBES: list[tuple[str, str, bytes]] = [
    ("GET", f"/data/projects/{VICTIM}", b""),
    ("GET", f"/data/projects/{VICTIM}/subjects?format=json", b""),
    ("GET", f"/data/projects/{VICTIM}/experiments?format=json", b""),
    ("GET", f"{VICTIM_SESSION}?format=json", b""),
    ("GET", f"/data/experiments/{VICTIM_ID}?format=json", b""),
    ("GET", f"/data/experiments/{VICTIM_ID}/scans?format=json", b""),
    ("GET", f"{SCAN}/resources/DICOM/files?format=json", b""),
    ("GET", f"{SCAN}/resources/DICOM/files/0.dcm", b""),
    ("GET", f"/data/experiments/{VICTIM_ID}/scans/ALL/files?format=zip", b""),
    ("GET", f"{SCAN}/resources/DICOM/files?locator=absolutePath&format=json", b""),
    ("PUT", f"{SCAN}/resources/DICOM/files/0.dcm?overwrite=true", b"overwritten"),
    ("PUT", f"{SCAN}/resources/EXTRA/files/new.txt", b"planted"),
    ("PUT", f"{VICTIM_SESSION}/scans/9?xsiType=xnat:ctScanData", b""),
    ("PUT", f"{VICTIM_SESSION}?label=taken_over", b""),
    ("PUT", f"/data/projects/{VICTIM}/subjects/v1?label=taken_over", b""),
    ("PUT", f"/data/projects/{VICTIM}/subjects/s_new", b""),
    ("PUT", f"{VICTIM_SESSION}/assessors/a9", b"ASSESSOR"),
    ("PUT", f"/data/projects/{VICTIM}/users/Owners/mallory", b""),
    ("PUT", f"/data/projects/{VICTIM}/accessibility/public", b""),
    ("DELETE", f"{SCAN}/resources/DICOM/files/0.dcm", b""),
    ("DELETE", f"{SCAN}/resources/DICOM", b""),
    ("DELETE", SCAN, b""),
    ("DELETE", VICTIM_SESSION, b""),
    ("DELETE", f"/data/experiments/{VICTIM_ID}", b""),
    ("DELETE", f"/data/projects/{VICTIM}/subjects/v1", b""),
    ("DELETE", f"/data/projects/{VICTIM}", b""),
    ("POST", f"/data/services/import?PROJECT_ID={VICTIM}&overwrite=delete", b"PK"),
    ("POST", "/xapi/archive/upload/xml", b"ASSESSOR"),
]


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    with running_sandbox(tmp_path_factory.mktemp("access") / "xnat") as server:
        yield build_stage(server)


def _rows(stage: Stage) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(stage.server.data_dir / "sandbox.db") as conn:
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in ("projects", "project_users", "subjects", "experiments", "scans", "files")
        }


@pytest.mark.parametrize(
    ("method", "path", "body"), OUTSIDER_PROBES, ids=[f"{m} {p}" for m, p, _ in OUTSIDER_PROBES]
)
def test_an_outsider_reads_and_changes_nothing_of_another_project(
    stage: Stage, method: str, path: str, body: bytes
) -> None:
    if body == b"ASSESSOR":
        body = roi_collection_xml(VICTIM_ID, "XNAT_S00001", "a9", with_id="XNAT_E00099").encode()
    before, rows_before = files_on_disk(stage.outside), _rows(stage)
    status, text = raw_request(stage, method, path, body)
    assert status in (403, 404), (status, text[:300])
    assert "v1_CT/SCANS" not in text and str(stage.server.data_dir) not in text
    assert not any(data.hex()[:32] in text for data in VICTIM_FILES.values())
    assert _rows(stage) == rows_before
    assert new_files_outside_archive(stage, before) == []
    assert victim_files_intact(stage)


def test_listings_across_projects_show_the_outsider_only_his_own(stage: Stage) -> None:
    for path in ("/data/projects", "/data/experiments", "/data/subjects"):
        answer = stage.attacker.get(f"{stage.url}{path}", params={"format": "json"})
        assert answer.status_code == 200
        rows = answer.json()["ResultSet"]["Result"]
        assert all(VICTIM not in (r.get("ID"), r.get("project")) for r in rows), rows
        assert rows  # his own project is there: the listing itself works


def test_the_victims_files_are_byte_for_byte_what_was_uploaded(stage: Stage) -> None:
    for name, data in VICTIM_FILES.items():
        got = stage.admin.get(f"{stage.url}{SCAN}/resources/DICOM/files/{name}")
        assert got.content == data
    assert (Path(stage.server.data_dir) / "archive" / VICTIM).is_dir()


def test_the_read_probes_name_real_objects_the_owner_may_read(stage: Stage) -> None:
    """So that a refusal above is a refusal, not a wrong path."""
    for method, path, _ in OUTSIDER_PROBES:
        if method == "GET":
            status, text = raw_request(
                stage, method, path, auth=(stage.server.user, stage.server.password)
            )
            assert status == 200, (path, text[:200])
