"""Files move into and out of the archive only with their catalogue rows: after the commit,
from a journal that a restart finishes when a crash came between the two."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import requests

from xnat_plugin.sandbox.archive_changes import (
    ARCHIVE_FILE_MODE,
    discard_from_archive,
    finish_pending_changes,
    move_folder_in_archive,
    move_into_archive,
)
from xnat_plugin.sandbox.db import Database
from xnat_plugin.sandbox.safe_paths import Refused
from xnat_plugin.sandbox.server import SandboxServer, running_sandbox


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "sandbox.db")


def _staged(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "spool" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_moves_happen_when_the_transaction_commits_and_not_when_it_fails(
    tmp_path: Path, db: Database
) -> None:
    source = _staged(tmp_path, "a.part", b"a")
    target = tmp_path / "archive" / "P" / "a.txt"
    with pytest.raises(RuntimeError), db.write():
        move_into_archive(db, tmp_path, [(source, target)])
        raise RuntimeError("the request failed")
    assert source.exists() and not target.exists()
    assert db.query("SELECT * FROM archive_journal") == []
    with db.write():
        move_into_archive(db, tmp_path, [(source, target)])
        assert not target.exists()  # not before the commit
    assert target.read_bytes() == b"a" and not source.exists()
    assert stat.S_IMODE(target.stat().st_mode) == ARCHIVE_FILE_MODE
    # the finished move's journal row goes with the next change, not in a transaction of its own
    [first] = db.query("SELECT id FROM archive_journal")
    second = _staged(tmp_path, "b.part", b"b")
    with db.write():
        move_into_archive(db, tmp_path, [(second, target.with_name("b.txt"))])
    assert [r["id"] for r in db.query("SELECT id FROM archive_journal")] == [first["id"] + 1]
    assert finish_pending_changes(db, tmp_path) == 0  # nothing left to do, nothing redone
    assert db.query("SELECT * FROM archive_journal") == []


def test_a_restart_finishes_what_a_crash_left_after_the_commit(
    tmp_path: Path, db: Database
) -> None:
    old = tmp_path / "archive" / "P" / "arc001" / "S" / "SCANS"
    (old / "1" / "DICOM").mkdir(parents=True)
    (old / "1" / "DICOM" / "old.dcm").write_bytes(b"old")
    source = _staged(tmp_path, "new.part", b"new")
    target = old / "2" / "DICOM" / "new.dcm"
    # the commit happened, the process died before carrying out its steps
    conn = db.connection()
    conn.execute("BEGIN IMMEDIATE")
    db._local.on_commit = []
    discard_from_archive(db, tmp_path, old)
    move_into_archive(db, tmp_path, [(source, target)])
    conn.execute("COMMIT")
    assert finish_pending_changes(db, tmp_path) == 2
    assert [p.relative_to(old).as_posix() for p in old.rglob("*.dcm")] == ["2/DICOM/new.dcm"]
    assert not (tmp_path / "trash").exists()
    assert finish_pending_changes(db, tmp_path) == 0  # nothing twice


def test_a_folder_move_left_by_a_crash_is_finished_once_at_restart(
    tmp_path: Path, db: Database
) -> None:
    """A renamed object's folder (`org.nrg.xnat.archive.Rename` moves it) follows its rows
    even when the server died between the commit and the move."""
    old = tmp_path / "archive" / "P" / "arc001" / "old"
    new = old.with_name("new")
    (old / "RESOURCES" / "R").mkdir(parents=True)
    (old / "RESOURCES" / "R" / "a.txt").write_bytes(b"a")
    new.mkdir()  # an empty folder of the new label is replaced
    conn = db.connection()
    conn.execute("BEGIN IMMEDIATE")
    db._local.on_commit = []
    move_folder_in_archive(db, tmp_path, old, new)
    conn.execute("COMMIT")
    assert finish_pending_changes(db, tmp_path) == 1
    assert (new / "RESOURCES" / "R" / "a.txt").read_bytes() == b"a" and not old.exists()
    old.mkdir()  # a later object of the old label: a second start must not move it again
    assert finish_pending_changes(db, tmp_path) == 0
    assert old.is_dir() and (new / "RESOURCES" / "R" / "a.txt").exists()


def test_a_file_cannot_take_the_place_of_a_folder(tmp_path: Path, db: Database) -> None:
    (tmp_path / "archive" / "R" / "a").mkdir(parents=True)
    source = _staged(tmp_path, "x.part", b"x")
    with pytest.raises(Refused) as refused, db.write():
        move_into_archive(db, tmp_path, [(source, tmp_path / "archive" / "R" / "a")])
    assert refused.value.status == 409
    with pytest.raises(Refused), db.write():
        move_into_archive(
            db,
            tmp_path,
            [(source, tmp_path / "archive/R/b"), (source, tmp_path / "archive/R/b/c")],
        )


def _modes(server: SandboxServer) -> dict[str, int]:
    root = server.data_dir / "archive"
    return {
        p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_every_archive_file_has_one_mode_whichever_way_it_came(tmp_path: Path) -> None:
    import io
    import zipfile

    with running_sandbox(tmp_path / "x") as server:
        http = requests.Session()
        http.auth = (server.user, server.password)
        base = f"{server.url}/data/projects/P"
        assert http.put(base).ok
        assert http.put(f"{base}/resources/R/files/put.txt", data=b"put").ok
        assert http.post(f"{base}/resources/R/files", files={"f": ("form.txt", b"f")}).ok
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr("zipped/a.txt", b"z")
        assert http.put(
            f"{base}/resources/R/files/z.zip", params={"extract": "true"}, data=buffer.getvalue()
        ).ok
        modes = _modes(server)
    assert sorted(modes) == [
        "P/resources/R/form.txt",
        "P/resources/R/put.txt",
        "P/resources/R/zipped/a.txt",
    ]
    assert set(modes.values()) == {ARCHIVE_FILE_MODE}
