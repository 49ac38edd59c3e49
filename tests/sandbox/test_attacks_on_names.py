"""Labels and IDs become folder names: a hostile one is refused with XNAT's answer, and no write
or delete ever reaches a path outside the archive (or another project's folder).

XNAT's rule is `XftStringUtils.isValidId` (`REGEX_VALID_ID`, `^[A-Za-z0-9-_]+$`); its REST
resources answer 417 with "Invalid character in project ID." (`ProjectResource`),
"Invalid character in subject label." (`SecureResource.validateSubject`) and
"Invalid character in experiment label." (`ExperimentResource`, `ExptAssessmentResource`).
"""

from __future__ import annotations

import io
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.attack_helpers import (
    ATTACKER,
    ATTACKER_SESSION,
    VICTIM,
    Stage,
    build_stage,
    files_on_disk,
    new_files_outside_archive,
    raw_request,
    victim_files_intact,
)
from tests.sandbox.served import archive_disagreements
from tests.sandbox.xml_documents import roi_collection_xml
from xnat_plugin.sandbox.safe_paths import Refused, check_xnat_id, inside
from xnat_plugin.sandbox.server import running_sandbox

MINE = f"/data/projects/{ATTACKER}"
SUBJECT = f"{MINE}/subjects/m1"


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[Stage]:
    with running_sandbox(tmp_path / "xnat") as server:
        yield build_stage(server)


def _assessor_xml(label: str, assessor_id: str = "") -> bytes:
    return roi_collection_xml("XNAT_E00002", "XNAT_S00002", label, with_id=assessor_id).encode()


# (what the attacker sends, XNAT's sentence the answer starts with)
CREATE_ATTACKS = {
    "project ID ..": (("PUT", "/data/projects/..", b""), "Invalid character in project ID."),
    "project ID with a space": (
        ("PUT", "/data/projects/a%20b", b""),
        "Invalid character in project ID.",
    ),
    "subject label ../../VICTIM": (
        ("PUT", f"{MINE}/subjects/s9?label=../../{VICTIM}", b""),
        "Invalid character in subject label.",
    ),
    "subject in path ..": (("PUT", f"{MINE}/subjects/..", b""), "Invalid character in subject"),
    "subject label /abs/path": (
        ("PUT", f"{MINE}/subjects/s9?label=/tmp/abs", b""),
        "Invalid character in subject label.",
    ),
    "subject renamed to ../../VICTIM": (
        ("PUT", f"{SUBJECT}?label=../../{VICTIM}", b""),
        "Invalid character in subject label.",
    ),
    "session label ../../../VICTIM/arc001/v1_CT": (
        (
            "PUT",
            f"{SUBJECT}/experiments/e9?xsiType=xnat:ctSessionData"
            f"&label=../../../{VICTIM}/arc001/v1_CT",
            b"",
        ),
        "Invalid character in experiment label.",
    ),
    "session renamed to ../../../VICTIM/arc001/v1_CT": (
        ("PUT", f"{ATTACKER_SESSION}?label=../../../{VICTIM}/arc001/v1_CT", b""),
        "Invalid character in experiment label.",
    ),
    "session label /abs/path": (
        ("PUT", f"{SUBJECT}/experiments/e9?xsiType=xnat:ctSessionData&label=/tmp/abs", b""),
        "Invalid character in experiment label.",
    ),
    "session label with CRLF": (
        ("PUT", f"{SUBJECT}/experiments/e9?xsiType=xnat:ctSessionData&label=a%0D%0Ab", b""),
        "Invalid character in experiment label.",
    ),
    "session in path ..": (
        ("PUT", f"{SUBJECT}/experiments/..?xsiType=xnat:ctSessionData", b""),
        "Invalid character in experiment label.",
    ),
    "scan ID ..": (
        ("PUT", f"{ATTACKER_SESSION}/scans/..?xsiType=xnat:ctScanData", b""),
        "Invalid character in scan ID.",
    ),
    "scan ID with a backslash": (
        ("PUT", f"{ATTACKER_SESSION}/scans/..%5C..%5Cx?xsiType=xnat:ctScanData", b""),
        "Invalid character in scan ID.",
    ),
    "scan ID with a dot segment": (
        ("PUT", f"{ATTACKER_SESSION}/scans/.?xsiType=xnat:ctScanData", b""),
        "Invalid character in scan ID.",
    ),
    "resource label ..": (
        ("PUT", f"{ATTACKER_SESSION}/resources/../files/x.txt", b"evil"),
        "Invalid character in resource label.",
    ),
    "resource label with a space": (
        ("PUT", f"{ATTACKER_SESSION}/resources/a%20b", b""),
        "Invalid character in resource label.",
    ),
    "assessor XML label ../../../VICTIM": (
        ("PUT", f"{ATTACKER_SESSION}/assessors/a1", _assessor_xml(f"../../../{VICTIM}")),
        "Invalid character in experiment label.",
    ),
    "assessor XML ID ../x": (
        ("PUT", f"{ATTACKER_SESSION}/assessors/a1", _assessor_xml("a1", "../x")),
        "Invalid character in experiment label.",
    ),
    "assessor query label ../x": (
        (
            "PUT",
            f"{ATTACKER_SESSION}/assessors/a1?xsiType=icr:roiCollectionData&label=../x",
            b"",
        ),
        "Invalid character in experiment label.",
    ),
}


@pytest.mark.parametrize("attack", sorted(CREATE_ATTACKS))
def test_a_hostile_label_or_id_is_refused_with_xnats_answer(stage: Stage, attack: str) -> None:
    (method, path, body), sentence = CREATE_ATTACKS[attack]
    before = files_on_disk(stage.outside)
    rows_before = _catalogue_counts(stage)
    status, text = raw_request(stage, method, path, body)
    assert (status, text[: len(sentence)]) == (417, sentence), text
    assert new_files_outside_archive(stage, before) == []
    assert _catalogue_counts(stage) == rows_before
    assert victim_files_intact(stage)


def test_renaming_an_assessor_to_a_hostile_label_is_refused(stage: Stage) -> None:
    uri = f"{stage.url}{ATTACKER_SESSION}/assessors/a1"
    made = stage.attacker.put(uri, data=_assessor_xml("a1"))
    assert made.status_code == 201, made.text
    renamed = stage.attacker.put(uri, data=_assessor_xml("../../x", made.text))
    assert renamed.status_code == 417
    assert renamed.text.startswith("Invalid character in experiment label.")
    assert stage.attacker.get(uri, params={"format": "json"}).ok


def _catalogue_counts(stage: Stage) -> tuple[int, ...]:
    with sqlite3.connect(stage.server.data_dir / "sandbox.db") as conn:
        return tuple(
            int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in ("projects", "subjects", "experiments", "scans", "resources", "files")
        )


def _plant(stage: Stage, sql: str, params: tuple[object, ...]) -> None:
    """A row as an older sandbox (before names were checked) could have stored it."""
    with sqlite3.connect(stage.server.data_dir / "sandbox.db") as conn:
        conn.execute(sql, params)


# Rows planted in the attacker's own project whose folder names climb into the victim's.
PLANTED = {
    "session": (
        "INSERT INTO experiments (id, project, subject_id, label, xsi_type, fields, "
        "insert_date, insert_user) VALUES ('XNAT_E00900', 'MINE', 'XNAT_S00002', "
        "'../../VICTIM', 'xnat:ctSessionData', '{}', '', 'mallory')",
        "/data/experiments/XNAT_E00900",
    ),
    "subject": (
        "INSERT INTO subjects (id, project, label, fields, insert_date, insert_user) VALUES "
        "('XNAT_S00900', 'MINE', '../../VICTIM', '{}', '', 'mallory')",
        f"{MINE}/subjects/XNAT_S00900",
    ),
    "scan": (
        "INSERT INTO scans (experiment_id, id, xsi_type, fields) VALUES "
        "('XNAT_E00002', '../../../../VICTIM', 'xnat:ctScanData', '{}')",
        # the scan is reached by its ID, which has slashes: only the catalogue can name it
        None,
    ),
    "assessor": (
        "INSERT INTO experiments (id, project, subject_id, label, xsi_type, session_id, fields, "
        "insert_date, insert_user) VALUES ('XNAT_E00901', 'MINE', 'XNAT_S00002', "
        "'../../../../VICTIM', 'icr:roiCollectionData', 'XNAT_E00002', '{}', '', 'mallory')",
        f"{ATTACKER_SESSION}/assessors/XNAT_E00901",
    ),
    "resource": (
        "INSERT INTO resources (owner, label, format, content, directory) VALUES "
        "('experiment:XNAT_E00002', 'OLD', '', '', '../VICTIM')",
        f"{ATTACKER_SESSION}/resources/OLD",
    ),
}


@pytest.mark.parametrize("kind", sorted(k for k, v in PLANTED.items() if v[1] is not None))
def test_deleting_an_object_whose_folder_leaves_its_place_is_refused(
    stage: Stage, kind: str
) -> None:
    sql, path = PLANTED[kind]
    assert path is not None
    _plant(stage, sql, ())
    before = files_on_disk(stage.outside)
    rows_before = _catalogue_counts(stage)
    answer = stage.attacker.delete(f"{stage.url}{path}")
    assert answer.status_code == 400, answer.text
    assert "not a path inside the archive" in answer.text
    assert victim_files_intact(stage)
    assert files_on_disk(stage.outside) == before
    assert _catalogue_counts(stage) == rows_before  # refused whole: not even the rows went


def test_a_planted_scan_folder_in_another_project_is_not_read_or_deleted(stage: Stage) -> None:
    sql, _ = PLANTED["scan"]
    _plant(stage, sql, ())
    owner = "scan:XNAT_E00002/../../../../VICTIM"
    _plant(
        stage,
        "INSERT INTO resources (id, owner, label, format, content, directory) VALUES "
        "(900, ?, 'DICOM', '', '', 'MINE/arc001/m1_CT/SCANS/../../../VICTIM/arc001/v1_CT/SCANS/1/DICOM')",
        (owner,),
    )
    _plant(
        stage,
        "INSERT INTO files (resource_id, path, size, digest) VALUES (900, '0.dcm', 1, '')",
        (),
    )
    zipped = stage.attacker.get(
        f"{stage.url}{ATTACKER_SESSION}/scans/ALL/files", params={"format": "zip"}
    )
    assert zipped.status_code == 400  # the victim's file is not read through the planted row
    assert b"PK" not in zipped.content[:2]
    located = stage.attacker.get(
        f"{stage.url}{ATTACKER_SESSION}/scans/ALL/files", params={"locator": "absolutePath"}
    )
    assert located.status_code == 400  # nor is its place on the server named
    assert "not a path inside the archive" in located.text
    assert str(stage.server.data_dir) not in located.text
    rows_before = _catalogue_counts(stage)
    deleted = stage.attacker.delete(f"{stage.url}{ATTACKER_SESSION}")
    assert deleted.status_code == 200  # the session's own folder is inside: it goes
    assert victim_files_intact(stage)
    assert _catalogue_counts(stage) < rows_before


def test_a_planted_link_in_the_archive_is_neither_written_through_nor_removed(
    stage: Stage, tmp_path: Path
) -> None:
    resource = f"{stage.url}{ATTACKER_SESSION}/resources/NOTES"
    assert stage.attacker.put(resource).status_code == 201
    target = tmp_path / "outside-target"
    target.mkdir()
    (target / "keep.txt").write_bytes(b"keep")
    folder = stage.server.data_dir / "archive" / ATTACKER / "arc001" / "m1_CT" / "RESOURCES"
    (folder / "NOTES").rmdir()
    (folder / "NOTES").symlink_to(target)
    written = stage.attacker.put(f"{resource}/files/x.txt", data=b"evil")
    assert written.status_code == 400
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    removed = stage.attacker.delete(resource)
    assert removed.status_code == 400
    assert (target / "keep.txt").read_bytes() == b"keep"


@pytest.mark.parametrize(
    "value", ["", ".", "..", "a/b", "a b", "a\r\nb", "é", "a.b", "/abs", "a\x00b"]
)
def test_check_xnat_id_accepts_only_xnats_characters(value: str) -> None:
    with pytest.raises(Refused) as refused:
        check_xnat_id("experiment", value)
    assert refused.value.status == 417
    assert str(refused.value).startswith("Invalid character in experiment label.")


@pytest.mark.parametrize("value", ["s1_CT", "XNAT_E00001", "1", "a-b_C9"])
def test_check_xnat_id_lets_xnats_names_through(value: str) -> None:
    assert check_xnat_id("subject", value) == value


@pytest.mark.parametrize(
    "parts", [("..",), ("a", "../.."), ("a/../b",), ("/etc",), ("a\x00",), ("",), (".",)]
)
def test_inside_refuses_what_leaves_the_root(tmp_path: Path, parts: tuple[str, ...]) -> None:
    with pytest.raises(Refused):
        inside(tmp_path, *parts)


def test_inside_gives_the_joined_path_within_the_root(tmp_path: Path) -> None:
    assert inside(tmp_path, "P/arc001", "s1") == tmp_path.resolve() / "P/arc001/s1"
    assert inside(tmp_path, "a/./b") == tmp_path.resolve() / "a/b"


def test_a_session_label_with_crlf_from_an_older_catalogue_still_downloads_as_a_zip(
    stage: Stage,
) -> None:
    """New labels with a CR or LF are refused above; one already stored must not break the
    zip download's Content-Disposition header (it used to end the header early)."""
    label = "evil\r\nSet-Cookie: x=1"
    _plant(
        stage,
        "INSERT INTO experiments (id, project, subject_id, label, xsi_type, fields, "
        "insert_date, insert_user) VALUES ('XNAT_E00950', 'MINE', 'XNAT_S00002', ?, "
        "'xnat:ctSessionData', '{}', '', 'mallory')",
        (label,),
    )
    folder = f"MINE/arc001/{label}/RESOURCES/NOTES"
    _plant(
        stage,
        "INSERT INTO resources (id, owner, label, format, content, directory) VALUES "
        "(950, 'experiment:XNAT_E00950', 'NOTES', '', '', ?)",
        (folder,),
    )
    _plant(stage, "INSERT INTO files VALUES (950, 'a.txt', 2, '', '', '', '')", ())
    on_disk = stage.server.data_dir / "archive" / folder
    on_disk.mkdir(parents=True)
    (on_disk / "a.txt").write_bytes(b"ok")
    answer = stage.attacker.get(
        f"{stage.url}/data/experiments/XNAT_E00950/resources/NOTES/files",
        params={"format": "zip"},
    )
    assert answer.status_code == 200
    assert "x=1" not in answer.headers.get("set-cookie", "")
    disposition = answer.headers["content-disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert "filename*=UTF-8''evil%0D%0ASet-Cookie" in disposition
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        assert [archive.read(n) for n in archive.namelist()] == [b"ok"]


# ------------------------------------------------------------------ renames
# XNAT's `org.nrg.xnat.archive.Rename` (called by `ExperimentResource`/`SubjectResource` for a
# PUT with `label=`) moves the object's folder to its new label and rewrites the URI of every
# resource below it; a new folder that already holds files is FolderConflictException, 409
# "File system destination contains pre-existing files".
RENAMED = {
    # kind: (object URI, where a file goes, the object's folder under MINE/)
    "session": (ATTACKER_SESSION, f"{ATTACKER_SESSION}/resources/NOTES/files/keep.txt", "arc001"),
    "subject": (SUBJECT, f"{SUBJECT}/resources/NOTES/files/keep.txt", "subjects"),
}


@pytest.mark.parametrize("kind", sorted(RENAMED))
def test_a_renamed_objects_files_follow_it_and_a_new_object_of_the_old_label_cannot_remove_them(
    stage: Stage, kind: str
) -> None:
    """Rename an object, create another with the old label, delete that one: the renamed
    object's files must survive (they used to sit in the old label's folder and went with it)."""
    uri, file_uri, parent = RENAMED[kind]
    old_label = uri.rsplit("/", 1)[-1]
    assert stage.attacker.put(f"{stage.url}{file_uri}", data=b"keep").status_code == 200
    renamed = stage.attacker.put(f"{stage.url}{uri}", params={"label": "renamed"})
    assert renamed.status_code == 200, renamed.text
    folder = stage.server.data_dir / "archive" / ATTACKER / parent
    assert not (folder / old_label).exists()
    assert (folder / "renamed").is_dir()
    made = stage.attacker.put(
        f"{stage.url}{uri}", params={"xsiType": "xnat:ctSessionData"} if kind == "session" else {}
    )
    assert made.status_code == 201, made.text
    before = files_on_disk(stage.outside)
    assert stage.admin.delete(f"{stage.url}{uri}").status_code == 200
    by_new_label = file_uri.replace(f"/{old_label}/", "/renamed/")
    kept = stage.attacker.get(f"{stage.url}{by_new_label}")
    assert (kept.status_code, kept.content) == (200, b"keep")
    assert files_on_disk(stage.outside) == before
    assert archive_disagreements(stage.server.data_dir) == []
    assert victim_files_intact(stage)


@pytest.mark.parametrize("kind", sorted(RENAMED))
def test_a_rename_onto_a_folder_that_holds_files_is_refused_and_changes_nothing(
    stage: Stage, kind: str
) -> None:
    uri, file_uri, parent = RENAMED[kind]
    assert stage.attacker.put(f"{stage.url}{file_uri}", data=b"keep").status_code == 200
    squatted = stage.server.data_dir / "archive" / ATTACKER / parent / "taken"
    squatted.mkdir(parents=True)
    (squatted / "left.txt").write_bytes(b"left")
    rows_before = _catalogue_counts(stage)
    before = files_on_disk(stage.outside)
    refused = stage.attacker.put(f"{stage.url}{uri}", params={"label": "taken"})
    assert refused.status_code == 409
    assert refused.text.startswith("File system destination contains pre-existing files")
    assert files_on_disk(stage.outside) == before
    assert _catalogue_counts(stage) == rows_before
    kept = stage.attacker.get(f"{stage.url}{file_uri}")
    assert (kept.status_code, kept.content) == (200, b"keep")
