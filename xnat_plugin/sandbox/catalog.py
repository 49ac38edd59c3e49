"""Rows of the catalogue: projects, subjects, experiments (sessions and assessors), scans.

Functions here read and write SQLite only; the archive folders are `archive.py`'s, the HTTP
shapes the routes'. IDs follow XNAT: `<SITE>_S00001` for subjects, `<SITE>_E00001` for
experiments and assessors.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from xnat_plugin.sandbox import identifiers
from xnat_plugin.sandbox.db import Database

SITE_ID = identifiers.SITE_ID


def now_text() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def fields_of(row: sqlite3.Row) -> dict[str, Any]:
    return dict(json.loads(row["fields"] or "{}"))


def new_subject_id(db: Database, conn: sqlite3.Connection) -> str:  # noqa: ARG001
    return identifiers.generate(conn, "subject")


def new_experiment_id(db: Database, conn: sqlite3.Connection) -> str:  # noqa: ARG001
    return identifiers.generate(conn, "experiment")


def get_project(db: Database, project_id: str) -> sqlite3.Row | None:
    """A project by its ID, else by one of its aliases (`XnatProjectdata.getProjectByIDorAlias`;
    a secondary ID, the "running title", names no project)."""
    row = db.query_one("SELECT * FROM projects WHERE id = ?", (project_id,))
    if row is not None:
        return row
    return db.query_one(
        "SELECT p.* FROM projects p JOIN project_aliases a ON a.project = p.id "
        "WHERE a.alias = ? ORDER BY p.id LIMIT 1",
        (project_id,),
    )


def project_aliases(db: Database, project_id: str) -> list[str]:
    return [
        r["alias"]
        for r in db.query(
            "SELECT alias FROM project_aliases WHERE project = ? ORDER BY alias", (project_id,)
        )
    ]


def get_subject(db: Database, project: str | None, id_or_label: str) -> sqlite3.Row | None:
    """A subject by ID, or in `project` by ID or label: its own, else one shared into it
    (under its label there)."""
    if project is None:
        return db.query_one("SELECT * FROM subjects WHERE id = ?", (id_or_label,))
    return db.query_one(
        "SELECT * FROM subjects WHERE project = ? AND (id = ? OR label = ?) ORDER BY id = ? DESC",
        (project, id_or_label, id_or_label, id_or_label),
    ) or _shared(db, "subjects", "subject", project, id_or_label)


def get_experiment(db: Database, project: str | None, id_or_label: str) -> sqlite3.Row | None:
    """An experiment by ID, or in `project` by ID or label: its own, else one shared into it."""
    if project is None:
        return db.query_one("SELECT * FROM experiments WHERE id = ?", (id_or_label,))
    return db.query_one(
        "SELECT * FROM experiments WHERE project = ? AND (id = ? OR label = ?) "
        "ORDER BY id = ? DESC",
        (project, id_or_label, id_or_label, id_or_label),
    ) or _shared(db, "experiments", "experiment", project, id_or_label)


def _shared(
    db: Database, table: str, kind: str, project: str, id_or_label: str
) -> sqlite3.Row | None:
    return db.query_one(
        f"SELECT t.* FROM {table} t JOIN shares sh ON sh.kind = ? AND sh.id = t.id "
        "WHERE sh.project = ? AND (t.id = ? OR sh.label = ?) ORDER BY t.id = ? DESC",
        (kind, project, id_or_label, id_or_label, id_or_label),
    )


def share_values(db: Database, kind: str, object_id: str) -> dict[str, str]:
    """The object's `sharing/share` elements as stored values (project and label of each)."""
    return {
        f"sharing/share[project={share['project']}]/label": share["label"]
        for share in shares_of(db, kind, object_id)
    }


def shares_of(db: Database, kind: str, object_id: str) -> list[sqlite3.Row]:
    """The projects (and labels there) a subject or experiment is shared into."""
    return db.query(
        "SELECT project, label FROM shares WHERE kind = ? AND id = ? ORDER BY rowid",
        (kind, object_id),
    )


def get_scan(db: Database, experiment_id: str, scan_id: str) -> sqlite3.Row | None:
    return db.query_one(
        "SELECT * FROM scans WHERE experiment_id = ? AND id = ?", (experiment_id, scan_id)
    )


def create_project(
    conn: sqlite3.Connection,
    project_id: str,
    fields: dict[str, Any],
    user: str,
    accessibility: str = "protected",
) -> None:
    """Insert a project; a blank name or secondary ID becomes the ID
    (`BaseXnatProjectdata.initNewProject`)."""
    conn.execute(
        "INSERT INTO projects (id, name, secondary_id, description, fields, insert_date, "
        "insert_user, accessibility) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            project_id,
            str(fields.pop("name", "") or project_id),
            str(fields.pop("secondary_ID", "") or project_id),
            str(fields.pop("description", "")),
            json.dumps(fields),
            now_text(),
            user,
            accessibility,
        ),
    )
    identifiers.claim(conn, "project", project_id)
    conn.execute(
        "INSERT OR REPLACE INTO project_users (project, login, role) VALUES (?, ?, 'owner')",
        (project_id, user),
    )


def update_fields(conn: sqlite3.Connection, table: str, where: dict[str, str], new: dict) -> None:
    """Merge `new` into a row's JSON `fields` (XNAT's PUT on an existing object)."""
    if not new:
        return
    clause = " AND ".join(f"{key} = ?" for key in where)
    row = conn.execute(
        f"SELECT fields FROM {table} WHERE {clause}", tuple(where.values())
    ).fetchone()
    merged = {**json.loads(row["fields"] or "{}"), **new}
    conn.execute(
        f"UPDATE {table} SET fields = ? WHERE {clause}", (json.dumps(merged), *where.values())
    )
    if table in ("subjects", "experiments"):
        touch(conn, table, where["id"])


def touch(conn: sqlite3.Connection, table: str, object_id: str) -> None:
    """Record a change of a subject or experiment (XNAT's `last_modified`); a change to an
    experiment changes its subject too."""
    now = now_text()
    conn.execute(f"UPDATE {table} SET last_modified = ? WHERE id = ?", (now, object_id))
    if table == "experiments":
        conn.execute(
            "UPDATE subjects SET last_modified = ? WHERE id = "
            "(SELECT subject_id FROM experiments WHERE id = ?)",
            (now, object_id),
        )


def project_row_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "ID": row["id"],
        "name": row["name"],
        "secondary_ID": row["secondary_id"],
        "description": row["description"] or "",
        "pi_firstname": "",
        "pi_lastname": "",
        **fields_of(row),
    }


def subject_row_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "ID": row["id"],
        "label": row["label"],
        "project": row["project"],
        "insert_date": row["insert_date"],
        "insert_user": row["insert_user"],
        **fields_of(row),
    }


def experiment_row_json(row: sqlite3.Row) -> dict[str, Any]:
    data = {
        "ID": row["id"],
        "label": row["label"],
        "project": row["project"],
        "xsiType": row["xsi_type"],
        "insert_date": row["insert_date"],
        "insert_user": row["insert_user"],
        **fields_of(row),
    }
    if row["session_id"]:
        data["imageSession_ID"] = row["session_id"]
        data["session_ID"] = row["session_id"]
    else:
        data["subject_ID"] = row["subject_id"]
    return data


def scan_row_json(row: sqlite3.Row) -> dict[str, Any]:
    fields = fields_of(row)
    return {
        "ID": row["id"],
        "xsiType": row["xsi_type"],
        "type": fields.pop("type", ""),
        "series_description": fields.pop("series_description", ""),
        "quality": fields.pop("quality", "usable"),
        "note": fields.pop("note", ""),
        "image_session_ID": row["experiment_id"],
        "xnat_imagescandata_id": f"{row['experiment_id']}:{row['id']}",
        **fields,
    }


def purge_orphans(conn: sqlite3.Connection) -> None:
    """Scans, resources and file rows whose owner is gone (after a delete)."""
    conn.execute("DELETE FROM scans WHERE experiment_id NOT IN (SELECT id FROM experiments)")
    conn.execute(
        "DELETE FROM reconstructions WHERE experiment_id NOT IN (SELECT id FROM experiments)"
    )
    conn.execute(
        "DELETE FROM resources WHERE "
        "(owner LIKE 'project:%' AND substr(owner, 9) NOT IN (SELECT id FROM projects)) OR "
        "(owner LIKE 'subject:%' AND substr(owner, 9) NOT IN (SELECT id FROM subjects)) OR "
        "(owner LIKE 'experiment:%' AND substr(owner, 12) NOT IN (SELECT id FROM experiments)) OR "
        "(owner LIKE 'scan:%' AND substr(owner, 6) NOT IN "
        "  (SELECT experiment_id || '/' || id FROM scans))"
    )
    conn.execute("DELETE FROM files WHERE resource_id NOT IN (SELECT id FROM resources)")
    conn.execute(
        "DELETE FROM shares WHERE (kind = 'subject' AND id NOT IN (SELECT id FROM subjects)) OR "
        "(kind = 'experiment' AND id NOT IN (SELECT id FROM experiments)) OR "
        "project NOT IN (SELECT id FROM projects)"
    )
