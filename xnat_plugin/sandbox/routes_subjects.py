"""Subjects: list, create or edit (PUT), read, delete (`SubjectResource`, `SubjectListResource`).

A subject keeps the ID a client gives it (`?ID=…` or `xnat:subjectData/ID=…`); XNAT generates
one only when none is given. The label comes from the query or, failing that, the URL.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from fastapi import HTTPException, Response

from xnat_plugin.sandbox import (
    archive,
    archive_changes,
    catalog,
    identifiers,
    listing_columns,
    object_views,
    object_xml,
)
from xnat_plugin.sandbox.call import Call
from xnat_plugin.sandbox.listing import put_answer, result_set
from xnat_plugin.sandbox.resolve import Resolved
from xnat_plugin.sandbox.safe_paths import check_xnat_id

_ID_KEYS = ("ID", "id")


def subject_uri(row: Any) -> str:
    return f"/data/projects/{row['project']}/subjects/{row['id']}"


def list_subjects(call: Call, found: Resolved) -> Response:
    if found.project is not None:
        # `ProjectSubjectList`: the project's subjects and those shared into it
        project_id = found.project["id"]
        own = call.db.query("SELECT * FROM subjects WHERE project = ? ORDER BY id", (project_id,))
        shared = call.db.query(
            "SELECT s.*, sh.label AS shared_label FROM subjects s JOIN shares sh "
            "ON sh.kind = 'subject' AND sh.id = s.id WHERE sh.project = ? ORDER BY s.id",
            (project_id,),
        )
        listed = [object_views.subject_row(r) for r in own] + [
            object_views.subject_row(r, project_id, r["shared_label"]) for r in shared
        ]
        table = listing_columns.table(listed, "subject", object_views.SUBJECT_DEFAULTS, call.query)
        return result_set(table, call.fmt, "Subjects")
    else:
        rows = [
            r
            for r in call.db.query("SELECT * FROM subjects ORDER BY id")
            if call.user.can_read(r["project"])
        ]
    listed = [object_views.subject_row(r) for r in rows]
    table = listing_columns.table(listed, "subject", object_views.SUBJECT_DEFAULTS, call.query)
    return result_set(table, call.fmt, "Subjects")


def wanted_id(fields: dict[str, str]) -> str | None:
    """The ID a client asked for (and removes it from the fields to store)."""
    for key in _ID_KEYS:
        value = fields.pop(key, None)
        if value:
            return value
    return None


def put_subject(call: Call, found: Resolved) -> Response:
    if found.project is None:
        raise HTTPException(404, "subjects are created under /data/projects/<project>/subjects")
    project_id = found.project["id"]
    fields = call.values_for("subject", "xnat:subjectData")
    fields.pop("project", None)
    # shares are made through `…/projects/P2`, not stored as values (routes_shares.py)
    fields = {k: v for k, v in fields.items() if not k.startswith("sharing/")}
    chosen = wanted_id(fields)
    existing = found.subject
    if existing is None and chosen:
        existing = catalog.get_subject(call.db, None, chosen)
        if existing is not None and existing["project"] != project_id:
            raise HTTPException(409, "Project must be modified through separate URI.")
    if existing is not None:
        return _update_subject(call, existing, chosen, fields)
    label = check_xnat_id("subject", fields.pop("label", "") or call.path.subject or "")
    with call.db.write() as conn:
        subject_id = create_subject(conn, project_id, label, chosen, fields, call.user.login)
    return put_answer(subject_id, True)


def create_subject(
    conn: sqlite3.Connection,
    project_id: str,
    label: str,
    chosen: str | None,
    fields: dict[str, Any],
    login: str,
) -> str:
    """Insert a subject with the given ID (or a generated one); returns the ID."""
    check_xnat_id("subject", label)
    if chosen:
        check_xnat_id("subject", chosen)
        identifiers.claim(conn, "subject", chosen)
        subject_id = chosen
    else:
        subject_id = identifiers.generate(conn, "subject")
    conn.execute(
        "INSERT INTO subjects (id, project, label, fields, insert_date, insert_user) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (subject_id, project_id, label, json.dumps(fields), catalog.now_text(), login),
    )
    return subject_id


def _update_subject(
    call: Call, existing: Any, chosen: str | None, fields: dict[str, str]
) -> Response:
    if chosen and chosen != existing["id"]:
        raise HTTPException(400, "ID cannot be modified")
    label = fields.pop("label", None)
    if label:
        check_xnat_id("subject", label)
    with call.db.write() as conn:
        if label and label != existing["label"]:
            clash = conn.execute(
                "SELECT 1 FROM subjects WHERE project = ? AND label = ?",
                (existing["project"], label),
            ).fetchone()
            if clash is not None:
                raise HTTPException(409, "Specified label is already in use.")
            placed = Resolved(
                path=call.path,
                project=catalog.get_project(call.db, existing["project"]),
                subject=existing,
            )
            archive.move_object_folder(call.db, conn, call.data_dir, placed, label)
            conn.execute("UPDATE subjects SET label = ? WHERE id = ?", (label, existing["id"]))
        catalog.update_fields(conn, "subjects", {"id": existing["id"]}, fields)
    return put_answer(existing["id"], False)


def get_subject(call: Call, found: Resolved) -> Response:
    assert found.subject is not None
    return object_xml.object_response(
        call.query,
        "xnat:subjectData",
        {
            **object_views.subject_values(found.subject),
            **catalog.share_values(call.db, "subject", found.subject["id"]),
        },
        start_date=found.subject["insert_date"],
    )


def delete_subject(call: Call, found: Resolved) -> Response:
    from xnat_plugin.sandbox.routes_experiments import delete_experiment

    assert found.subject is not None and found.project is not None
    sessions = [
        Resolved(
            path=found.path,
            project=found.project,
            subject=found.subject,
            experiment=catalog.get_experiment(call.db, None, row["id"]),
        )
        for row in call.db.query(
            "SELECT id FROM experiments WHERE subject_id = ? AND session_id IS NULL",
            (found.subject["id"],),
        )
    ]
    # Every folder is checked before anything is deleted: one refused path changes nothing.
    folder = archive.object_directory(call.data_dir, found)
    for session in sessions:
        archive.object_directory(call.data_dir, session)
    for session in sessions:
        delete_experiment(call, session)
    with call.db.write() as conn:
        conn.execute("DELETE FROM subjects WHERE id = ?", (found.subject["id"],))
        catalog.purge_orphans(conn)
        archive_changes.discard_from_archive(call.db, call.data_dir, folder)
    return Response(status_code=200)
