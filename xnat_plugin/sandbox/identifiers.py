"""Subject and experiment IDs as XNAT hands them out (`org.nrg.xnat.turbine.utils.IDGenerator`).

A generated ID is `<site>_S<5 digits>` or `<site>_E<5 digits>`. XNAT counts the IDs already
claimed with that prefix (live rows and its `*_history` tables, so deleted objects keep theirs),
starts at that count + 1 and skips every candidate that is taken. An ID a client chose is
claimed the same way, so it can never block a later creation: the generator steps over it.
"""

from __future__ import annotations

import sqlite3
from typing import Literal

SITE_ID = "XNAT"
# Project IDs are claimed too: XNAT refuses a deleted project's ID ("was used in a previously
# deleted project and cannot be reused", BaseXnatProjectdata.preSave) but never generates one.
Kind = Literal["subject", "experiment", "project"]
_CODES: dict[str, str] = {"subject": "S", "experiment": "E"}
_DIGITS = 5


def is_claimed(conn: sqlite3.Connection, kind: Kind, object_id: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM claimed_ids WHERE kind = ? AND id = ?", (kind, object_id)
        ).fetchone()
        is not None
    )


def claim(conn: sqlite3.Connection, kind: Kind, object_id: str) -> None:
    """Record `object_id` as used for good (a delete does not free it)."""
    conn.execute("INSERT OR IGNORE INTO claimed_ids (kind, id) VALUES (?, ?)", (kind, object_id))


def generate(conn: sqlite3.Connection, kind: Literal["subject", "experiment"]) -> str:
    """The next free ID of `kind`, claimed at once (inside the caller's transaction)."""
    prefix = f"{SITE_ID}_{_CODES[kind]}"
    row = conn.execute(
        "SELECT COUNT(*) FROM claimed_ids WHERE kind = ? AND id LIKE ? ESCAPE '\\'",
        (kind, prefix.replace("_", "\\_") + "%"),
    ).fetchone()
    number = int(row[0]) + 1
    while is_claimed(conn, kind, candidate := f"{prefix}{number:0{_DIGITS}d}"):
        number += 1
    claim(conn, kind, candidate)
    return candidate
