"""Sharing a subject or an experiment into another project, as XNAT does.

A shared object stays in its own project (its archive folder, its ID); the project it is shared
into lists it and finds it by ID or by the label it has there, read-only (`xnat:subjectData` /
`xnat:experimentData` `sharing/share` with `project` and `label`, the rows of XNAT's
`xnat_projectParticipant` and `xnat_experimentData_share`).

- `PUT …/subjects/S/projects/P2[?label=L]` and `…/experiments/E/projects/P2[?label=L]`: the
  caller must be able to read the object and to add data to P2; the label defaults to the
  object's own and must be free in P2; sharing into the object's own project is refused.
- `DELETE …/projects/P2` removes the share (the object itself stays).
- `GET …/projects` lists the object's project first, then the projects it is shared into.
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi import HTTPException, Response

from xnat_plugin.sandbox import catalog, listing_columns, object_views, project_rules
from xnat_plugin.sandbox.call import Call
from xnat_plugin.sandbox.listing import result_set
from xnat_plugin.sandbox.resolve import Resolved
from xnat_plugin.sandbox.safe_paths import check_xnat_id

log = logging.getLogger(__name__)


def _shared_object(found: Resolved) -> tuple[str, str, sqlite3.Row]:
    """(kind, table, row) of the subject or experiment a share path names."""
    if found.assessor is not None:
        raise HTTPException(405, "assessors are shared with their session")
    if found.experiment is not None:
        return "experiment", "experiments", found.experiment
    if found.subject is not None:
        return "subject", "subjects", found.subject
    raise HTTPException(404, "only subjects and experiments are shared into projects")


def list_shares(call: Call, found: Resolved) -> Response:
    kind, _, row = _shared_object(found)
    projects = [row["project"]] + [
        s["project"] for s in catalog.shares_of(call.db, kind, row["id"])
    ]
    rows = []
    for project_id in projects:
        project = catalog.get_project(call.db, project_id)
        if project is not None and project_rules.can_read(call.user, project):
            rows.append(object_views.project_row(project))
    table = listing_columns.table(rows, "project", object_views.PROJECT_DEFAULTS, call.query)
    return result_set(table, call.fmt, "Projects")


def put_share(call: Call, found: Resolved) -> Response:
    kind, table, row = _shared_object(found)
    target_id = call.path.share
    assert target_id is not None
    target = catalog.get_project(call.db, target_id)
    if target is None:
        raise HTTPException(404, f"project {target_id} not found")
    target_id = target["id"]  # an alias names its project
    if not call.user.can_write(target_id):
        raise HTTPException(403, f"user {call.user.login} may not add data to project {target_id}")
    if target_id == row["project"]:
        raise HTTPException(409, f"Already assigned to project: {target_id}")
    label = check_xnat_id(kind, call.query.get("label") or row["label"])
    taken = call.db.query_one(
        f"SELECT id FROM {table} WHERE project = ? AND label = ? AND id != ? "
        "UNION SELECT id FROM shares WHERE kind = ? AND project = ? AND label = ? AND id != ?",
        (target_id, label, row["id"], kind, target_id, label, row["id"]),
    )
    if taken is not None:
        raise HTTPException(409, "Specified label is already in use.")
    with call.db.write() as conn:
        existed = conn.execute(
            "SELECT 1 FROM shares WHERE kind = ? AND id = ? AND project = ?",
            (kind, row["id"], target_id),
        ).fetchone()
        conn.execute(
            "INSERT OR REPLACE INTO shares (kind, id, project, label) VALUES (?, ?, ?, ?)",
            (kind, row["id"], target_id, label),
        )
        catalog.touch(conn, table, row["id"])
    log.info("shared %s %s into %s as %s", kind, row["id"], target_id, label)
    return Response(row["id"], status_code=200 if existed else 201, media_type="text/plain")


def delete_share(call: Call, found: Resolved) -> Response:
    kind, table, row = _shared_object(found)
    target = catalog.get_project(call.db, call.path.share or "")
    target_id = target["id"] if target is not None else call.path.share
    if target_id == row["project"]:
        raise HTTPException(
            400, f"{kind} {row['id']} belongs to project {target_id}; delete it to remove it"
        )
    if target is None or not call.user.can_write(target["id"]):
        if target is None:
            raise HTTPException(404, f"project {call.path.share} not found")
        raise HTTPException(403, f"user {call.user.login} may not modify project {target_id}")
    with call.db.write() as conn:
        gone = conn.execute(
            "DELETE FROM shares WHERE kind = ? AND id = ? AND project = ?",
            (kind, row["id"], target_id),
        ).rowcount
        if gone:
            catalog.touch(conn, table, row["id"])
    if not gone:
        raise HTTPException(404, f"{kind} {row['id']} is not shared into project {target_id}")
    log.info("unshared %s %s from %s", kind, row["id"], target_id)
    return Response(status_code=200)
