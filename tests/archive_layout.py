"""Assessor files where XNAT puts them, whichever way they arrived.

Container Service's output handlers write an assessor's resources under `ASSESSORS/<label>/`, a
REST upload under `ASSESSORS/<assessor ID>/`. `place_assessor_files` moves a sandbox
assessor's resource folders to one of the two and updates the catalogue to say so, so a test can
run a step against either layout.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Literal

from xnat_plugin.sandbox.archive import DB_FILE, archive_root

Layout = Literal["label", "id"]
LAYOUTS: tuple[Layout, ...] = ("label", "id")


def place_assessor_files(data_dir: Path, assessor_id: str, layout: Layout) -> list[Path]:
    """Move every resource folder of the assessor to `ASSESSORS/<label or ID>/<resource>`;
    returns the new folders."""
    root = archive_root(data_dir)
    with sqlite3.connect(Path(data_dir) / DB_FILE) as db:
        (label,) = db.execute(
            "SELECT label FROM experiments WHERE id = ?", (assessor_id,)
        ).fetchone()
        rows = db.execute(
            "SELECT id, label, directory FROM resources WHERE owner = ?",
            (f"experiment:{assessor_id}",),
        ).fetchall()
        moved = []
        for resource_id, resource_label, directory in rows:
            old = Path(directory)
            assessors = old.parent.parent
            assert assessors.name == "ASSESSORS", f"unexpected resource folder {old}"
            new = assessors / (label if layout == "label" else assessor_id) / resource_label
            if new != old:
                (root / new).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(root / old, root / new)
                db.execute(
                    "UPDATE resources SET directory = ? WHERE id = ?", (new.as_posix(), resource_id)
                )
                if not any((root / old.parent).iterdir()):
                    (root / old.parent).rmdir()
            moved.append(root / new)
    return moved
