"""Files enter and leave the archive only when the catalogue's transaction commits, and a crash
at any moment leaves the two agreeing once the server starts again.

A route changes rows inside `Database.write()` and, in the same block, asks for its file moves
(`move_into_archive`), removals (`discard_from_archive`) and folder renames
(`move_folder_in_archive`, when an object takes a new label). Each step is written to the
`archive_journal` table in that transaction, so it exists exactly when the rows do. After the
commit, still holding the write lock (no other write in between), the steps are carried out
and their journal rows deleted. A refused or failed request therefore touches no file at all
(a failed `overwrite=delete` import keeps its old scans), and a server killed between the
commit and the last step finishes the steps at its next start (`finish_pending_changes`),
before anything else runs: every step can be repeated safely.

Removed folders are first renamed into `<data_dir>/trash` (instant, under the lock), then
deleted once the lock is released, so a large delete does not hold up other writers; whatever
a crash leaves in `trash` is deleted at the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path

from xnat_plugin.sandbox.db import Database
from xnat_plugin.sandbox.safe_paths import Refused

log = logging.getLogger(__name__)
TRASH_DIR = "trash"
# One mode for every file in the archive, whichever way it arrived (upload spools are
# created 0600 by mkstemp; zip members and imports with the process umask).
ARCHIVE_FILE_MODE = 0o644
MOVE = "move"
MOVE_FOLDER = "move-folder"
DISCARD = "discard"


def move_into_archive(db: Database, data_dir: Path, moves: Iterable[tuple[Path, Path]]) -> None:
    """Inside `db.write()`: when it commits, rename each staged `source` to its archive
    `target` (both under `data_dir`; targets come from `archive.archive_path`). A target that
    is a folder, or lies under a file, is refused now (409), before anything changes."""
    base = os.fspath(data_dir)
    steps = [(MOVE, os.fspath(source), os.fspath(target)) for source, target in moves]
    _check_targets(base, [target for _, _, target in steps])
    _record(db, base, steps)


def discard_from_archive(db: Database, data_dir: Path, path: Path) -> None:
    """Inside `db.write()`: when it commits, remove the archive file or folder `path` (from
    `archive.archive_path`; missing is fine)."""
    base = os.fspath(data_dir)
    trash = os.path.join(base, TRASH_DIR, uuid.uuid4().hex)
    _record(db, base, [(DISCARD, os.fspath(path), trash)])


def move_folder_in_archive(db: Database, data_dir: Path, source: Path, target: Path) -> None:
    """Inside `db.write()`: when it commits, rename the archive folder `source` to `target`
    (an object that took a new label; both from `archive.archive_path`). A missing `source`
    is fine (the object had no files yet); `target` must not hold anything."""
    base = os.fspath(data_dir)
    _record(db, base, [(MOVE_FOLDER, os.fspath(source), os.fspath(target))])


def _check_targets(base: str, targets: list[str]) -> None:
    """A file cannot replace a folder nor sit under a file: answer 409 while nothing changed.
    (Plain strings and one stat per existing folder: this runs for every upload.)"""
    wanted = set(targets)
    for target in targets:
        clash = os.path.isdir(target) and not os.path.islink(target)
        parent = os.path.dirname(target)
        while not clash and len(parent) > len(base):
            if parent in wanted:
                clash = True
            elif os.path.isdir(parent):
                break  # an existing folder: every folder above it exists too
            elif os.path.lexists(parent):
                clash = True
            parent = os.path.dirname(parent)
        if clash:
            raise Refused(
                f"{os.path.basename(target)}: a file and a folder of the same name would meet "
                f"at {_relative(target, base)}; choose another file name",
                409,
            )


# Journal rows of moves already carried out, deleted by the next transaction that records
# steps (a finished move repeated at start-up finds no source and does nothing), so an upload
# costs no transaction of its own for its bookkeeping. Guarded by the database's write lock.
_finished_moves: weakref.WeakKeyDictionary[Database, list[int]] = weakref.WeakKeyDictionary()


def _record(db: Database, base: str, steps: list[tuple[str, str, str]]) -> None:
    if not steps:
        return
    rows = [
        (action, _relative(source, base), _relative(target, base))
        for action, source, target in steps
    ]
    conn = db.connection()
    finished = list(_finished_moves.get(db, ()))
    if finished:
        marks = ",".join("?" * len(finished))
        conn.execute(f"DELETE FROM archive_journal WHERE id IN ({marks})", finished)
    ids = [
        int(
            conn.execute(
                "INSERT INTO archive_journal (action, source, target) VALUES (?, ?, ?)", row
            ).lastrowid
            or 0
        )
        for row in rows
    ]

    def carry_out() -> Callable[[], None] | None:
        _finished_moves[db] = [i for i in _finished_moves.get(db, ()) if i not in finished]
        failed = [row for row in rows if _apply_logged(base, *row) is False]
        moved = [i for i, row in zip(ids, rows, strict=True) if row[0] == MOVE]
        if len(moved) == len(ids) and not failed:
            _finished_moves[db].extend(moved)
        else:  # a removal or folder move must not be repeated once its path may hold new files
            conn.executemany("DELETE FROM archive_journal WHERE id = ?", [(i,) for i in ids])
        if failed:
            raise OSError(f"{len(failed)} archive change(s) failed after their commit (see log)")
        trashed = [os.path.join(base, target) for action, _, target in rows if action == DISCARD]
        return (lambda: _empty(trashed)) if trashed else None

    db.on_commit(carry_out)


def _relative(path: str, base: str) -> str:
    if not path.startswith(base + os.sep):
        raise ValueError(f"{path} is not under {base}")
    return path[len(base) + 1 :].replace(os.sep, "/")


def _apply_logged(base: str, action: str, source: str, target: str) -> bool | None:
    """True when the step changed something, None when it was done already, False when it
    failed (logged)."""
    try:
        return _apply(base, action, source, target) or None
    except OSError as exc:
        log.error("archive change %s %s -> %s failed: %s", action, source, target, exc)
        return False


def _apply(base: str, action: str, source: str, target: str) -> bool:
    """One journal step; True if it changed something (a step done already changes
    nothing)."""
    origin, destination = os.path.join(base, source), os.path.join(base, target)
    if action == MOVE:
        try:
            os.chmod(origin, ARCHIVE_FILE_MODE)
        except FileNotFoundError:  # done already
            return False
        try:
            os.replace(origin, destination)
        except FileNotFoundError:  # the folder is new
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            os.replace(origin, destination)
        return True
    if action == MOVE_FOLDER:
        if not os.path.isdir(origin) or os.path.islink(origin):  # done already, or no files yet
            return False
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        os.replace(origin, destination)  # an empty folder at `destination` is replaced
        return True
    if action == DISCARD:
        if os.path.lexists(destination) or not os.path.lexists(origin):
            return False
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        os.replace(origin, destination)
        return True
    raise ValueError(f"unknown archive journal step {action!r}")


def _empty(paths: list[str]) -> None:
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def finish_pending_changes(db: Database, data_dir: Path) -> int:
    """At start-up: carry out the steps a crash left after their commit, then empty the
    trash. Returns how many steps had still to be done."""
    base = os.fspath(data_dir)
    with db.write() as conn:
        rows = conn.execute(
            "SELECT id, action, source, target FROM archive_journal ORDER BY id"
        ).fetchall()
        finished = sum(
            bool(_apply_logged(base, row["action"], row["source"], row["target"])) for row in rows
        )
        conn.execute("DELETE FROM archive_journal")
    if finished:
        log.warning(
            "finished %d archive change(s) that a stop had interrupted after their commit",
            finished,
        )
    _finished_moves.pop(db, None)
    shutil.rmtree(os.path.join(base, TRASH_DIR), ignore_errors=True)
    return finished
