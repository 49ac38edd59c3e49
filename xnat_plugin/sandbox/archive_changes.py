"""Files enter and leave the archive only when the catalogue's transaction commits, and a crash
at any moment leaves the two agreeing once the server starts again.

A route changes rows inside `Database.write()` and, in the same block, asks for its file moves
(`move_into_archive`) and removals (`discard_from_archive`). Each step is written to the
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

import logging
import os
import shutil
import uuid
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
DISCARD = "discard"


def move_into_archive(db: Database, data_dir: Path, moves: Iterable[tuple[Path, Path]]) -> None:
    """Inside `db.write()`: when it commits, rename each staged `source` to its archive
    `target` (both under `data_dir`; targets come from `archive.archive_path`). A target that
    is a folder, or lies under a file, is refused now (409), before anything changes."""
    steps = [(MOVE, Path(source), Path(target)) for source, target in moves]
    _check_targets(Path(data_dir), [target for _, _, target in steps])
    _record(db, data_dir, steps)


def discard_from_archive(db: Database, data_dir: Path, path: Path) -> None:
    """Inside `db.write()`: when it commits, remove the archive file or folder `path` (from
    `archive.archive_path`; missing is fine)."""
    trash = Path(data_dir) / TRASH_DIR / uuid.uuid4().hex
    _record(db, data_dir, [(DISCARD, path, trash)])


def _check_targets(base: Path, targets: list[Path]) -> None:
    """A file cannot replace a folder nor sit under a file: answer 409 while nothing changed."""
    wanted = set(targets)
    for target in targets:
        clash = target.is_dir() and not target.is_symlink()
        for parent in target.parents:
            if parent == base or clash:
                break
            clash = parent in wanted or (parent.exists() and not parent.is_dir())
        if clash:
            raise Refused(
                f"{target.name}: a file and a folder of the same name would meet at "
                f"{_relative(target, base)}; choose another file name",
                409,
            )


def _record(db: Database, data_dir: Path, steps: list[tuple[str, Path, Path]]) -> None:
    if not steps:
        return
    base = Path(data_dir)
    rows = [
        (action, _relative(source, base), _relative(target, base))
        for action, source, target in steps
    ]
    conn = db.connection()
    ids = [
        conn.execute(
            "INSERT INTO archive_journal (action, source, target) VALUES (?, ?, ?)", row
        ).lastrowid
        for row in rows
    ]

    def carry_out() -> Callable[[], None] | None:
        failed = [row for row in rows if not _apply_logged(base, *row)]
        conn.executemany("DELETE FROM archive_journal WHERE id = ?", [(i,) for i in ids])
        if failed:
            raise OSError(f"{len(failed)} archive change(s) failed after their commit (see log)")
        trashed = [base / target for action, _, target in rows if action == DISCARD]
        return (lambda: _empty(trashed)) if trashed else None

    db.on_commit(carry_out)


def _relative(path: Path, base: Path) -> str:
    return Path(path).relative_to(base).as_posix()


def _apply_logged(base: Path, action: str, source: str, target: str) -> bool:
    try:
        _apply(base, action, source, target)
    except OSError as exc:
        log.error("archive change %s %s -> %s failed: %s", action, source, target, exc)
        return False
    return True


def _apply(base: Path, action: str, source: str, target: str) -> None:
    """One journal step; repeating a step that was done already changes nothing."""
    if action == MOVE:
        origin, destination = base / source, base / target
        if not origin.exists():  # done before a crash
            return
        os.chmod(origin, ARCHIVE_FILE_MODE)
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(origin, destination)
    elif action == DISCARD:
        doomed, trash = base / source, base / target
        if trash.exists() or not (doomed.exists() or doomed.is_symlink()):
            return
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.replace(doomed, trash)
    else:
        raise ValueError(f"unknown archive journal step {action!r}")


def _empty(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def finish_pending_changes(db: Database, data_dir: Path) -> int:
    """At start-up: carry out the steps a crash left after their commit, then empty the
    trash. Returns how many steps were finished."""
    base = Path(data_dir)
    with db.write() as conn:
        rows = conn.execute(
            "SELECT id, action, source, target FROM archive_journal ORDER BY id"
        ).fetchall()
        for row in rows:
            _apply_logged(base, row["action"], row["source"], row["target"])
        conn.execute("DELETE FROM archive_journal")
    if rows:
        log.warning(
            "finished %d archive change(s) that a stop had interrupted after their commit",
            len(rows),
        )
    shutil.rmtree(base / TRASH_DIR, ignore_errors=True)
    return len(rows)
