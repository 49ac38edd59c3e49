"""Projects, subjects, image sessions and scans: list, create (PUT), read, delete."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import HTTPException, Response

from xnat_plugin.sandbox import archive, archive_changes, catalog, events, object_xml
from xnat_plugin.sandbox.call import Call
from xnat_plugin.sandbox.listing import item_response, result_set
from xnat_plugin.sandbox.resolve import Resolved
from xnat_plugin.sandbox.safe_paths import check_xnat_id

log = logging.getLogger(__name__)


def created(object_id: str, new: bool) -> Response:
    """XNAT answers a PUT with the object's ID: 201 when it was created, 200 when updated."""
    return Response(object_id, status_code=201 if new else 200, media_type="text/plain")


def _subject_uri(row: Any) -> str:
    return f"/data/projects/{row['project']}/subjects/{row['id']}"


def _experiment_uri(row: Any) -> str:
    return f"/data/experiments/{row['id']}"


# ---------------------------------------------------------------- projects
def list_projects(call: Call) -> Response:
    rows = []
    for row in call.db.query("SELECT * FROM projects ORDER BY id"):
        if call.user.can_read(row["id"]):
            rows.append({**catalog.project_row_json(row), "URI": f"/data/projects/{row['id']}"})
    return result_set(rows, call.fmt, "Projects", call.query)


def put_project(call: Call, found: Resolved) -> Response:
    project_id = call.path.project
    assert project_id is not None
    fields = call.fields_for("xnat:projectData")
    if found.project is None:
        folder = archive.archive_path(call.data_dir, check_xnat_id("project", project_id))
        with call.db.write() as conn:
            catalog.create_project(conn, project_id, dict(fields), call.user.login)
        folder.mkdir(parents=True, exist_ok=True)
        log.info("created project %s", project_id)
        return created(project_id, True)
    if not call.user.can_manage(found.project["id"]):
        raise HTTPException(403, f"user {call.user.login} may not edit project {project_id}")
    with call.db.write() as conn:
        for column, key in (
            ("name", "name"),
            ("description", "description"),
            ("secondary_id", "secondary_ID"),
        ):
            if key in fields:
                conn.execute(
                    f"UPDATE projects SET {column} = ? WHERE id = ?",
                    (fields.pop(key), found.project["id"]),
                )
        catalog.update_fields(conn, "projects", {"id": found.project["id"]}, fields)
    return created(found.project["id"], False)


def get_project(call: Call, found: Resolved) -> Response:
    assert found.project is not None
    data = catalog.project_row_json(found.project)
    if call.fmt == "xml":
        return object_xml.response("xnat:projectData", data)
    return item_response("xnat:projectData", data)


def delete_project(call: Call, found: Resolved) -> Response:
    assert found.project is not None
    project_id = found.project["id"]
    if not call.user.can_manage(project_id):
        raise HTTPException(403, f"user {call.user.login} may not delete project {project_id}")
    folder = archive.archive_path(call.data_dir, project_id)
    with call.db.write() as conn:
        for table, column in (
            ("experiments", "project"),
            ("subjects", "project"),
            ("project_users", "project"),
        ):
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (project_id,))
        conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))
        _purge_orphans(conn)
        archive_changes.discard_from_archive(call.db, call.data_dir, folder)
    return Response(status_code=200)


def _purge_orphans(conn: Any) -> None:
    """Scans, resources and file rows whose owner is gone (after a delete)."""
    conn.execute("DELETE FROM scans WHERE experiment_id NOT IN (SELECT id FROM experiments)")
    conn.execute(
        "DELETE FROM resources WHERE "
        "(owner LIKE 'project:%' AND substr(owner, 9) NOT IN (SELECT id FROM projects)) OR "
        "(owner LIKE 'subject:%' AND substr(owner, 9) NOT IN (SELECT id FROM subjects)) OR "
        "(owner LIKE 'experiment:%' AND substr(owner, 12) NOT IN (SELECT id FROM experiments)) OR "
        "(owner LIKE 'scan:%' AND substr(owner, 6) NOT IN "
        "  (SELECT experiment_id || '/' || id FROM scans))"
    )
    conn.execute("DELETE FROM files WHERE resource_id NOT IN (SELECT id FROM resources)")


# ---------------------------------------------------------------- subjects
def list_subjects(call: Call, found: Resolved) -> Response:
    if found.project is not None:
        rows = call.db.query(
            "SELECT * FROM subjects WHERE project = ? ORDER BY id", (found.project["id"],)
        )
    else:
        rows = [
            r
            for r in call.db.query("SELECT * FROM subjects ORDER BY id")
            if call.user.can_read(r["project"])
        ]
    listing = [{**catalog.subject_row_json(r), "URI": _subject_uri(r)} for r in rows]
    return result_set(listing, call.fmt, "Subjects", call.query)


def put_subject(call: Call, found: Resolved) -> Response:
    if found.project is None:
        raise HTTPException(404, "subjects are created under /data/projects/<project>/subjects")
    fields = call.fields_for("xnat:subjectData")
    label = fields.pop("label", None) if found.subject is not None else None
    if found.subject is not None:
        if label:
            check_xnat_id("subject", label)
        with call.db.write() as conn:
            if label and label != found.subject["label"]:
                conn.execute(
                    "UPDATE subjects SET label = ? WHERE id = ?", (label, found.subject["id"])
                )
            catalog.update_fields(conn, "subjects", {"id": found.subject["id"]}, fields)
        return created(found.subject["id"], False)
    label = check_xnat_id("subject", fields.pop("label", call.path.subject or ""))
    with call.db.write() as conn:
        subject_id = catalog.new_subject_id(call.db, conn)
        conn.execute(
            "INSERT INTO subjects (id, project, label, fields, insert_date, insert_user) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                subject_id,
                found.project["id"],
                label,
                json.dumps(fields),
                catalog.now_text(),
                call.user.login,
            ),
        )
    return created(subject_id, True)


def get_subject(call: Call, found: Resolved) -> Response:
    assert found.subject is not None
    data = catalog.subject_row_json(found.subject)
    if call.fmt == "xml":
        return object_xml.response("xnat:subjectData", data)
    return item_response("xnat:subjectData", data, start_date=found.subject["insert_date"])


def delete_subject(call: Call, found: Resolved) -> Response:
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
        _purge_orphans(conn)
        archive_changes.discard_from_archive(call.db, call.data_dir, folder)
    return Response(status_code=200)


# ---------------------------------------------------------------- experiments
def list_experiments(call: Call, found: Resolved) -> Response:
    sql = (
        "SELECT e.*, s.label AS subject_label FROM experiments e "
        "JOIN subjects s ON s.id = e.subject_id WHERE e.session_id IS NULL"
    )
    params: tuple[str, ...] = ()
    if found.subject is not None:
        sql, params = sql + " AND e.subject_id = ?", (found.subject["id"],)
    elif found.project is not None:
        sql, params = sql + " AND e.project = ?", (found.project["id"],)
    rows = [
        r for r in call.db.query(sql + " ORDER BY e.id", params) if call.user.can_read(r["project"])
    ]
    listing = [
        {
            **catalog.experiment_row_json(r),
            "subject_label": r["subject_label"],
            "URI": _experiment_uri(r),
        }
        for r in rows
    ]
    return result_set(listing, call.fmt, "Experiments", call.query)


def put_experiment(call: Call, found: Resolved) -> Response:
    if found.project is None:
        raise HTTPException(404, "experiments are created under /data/projects/<project>/…")
    xsi_type = call.query.get("xsiType") or (
        found.experiment["xsi_type"] if found.experiment is not None else "xnat:ctSessionData"
    )
    fields = call.fields_for(xsi_type, "xnat:experimentData", "xnat:imageSessionData")
    if found.experiment is not None:
        fields.pop("label", None)
        with call.db.write() as conn:
            catalog.update_fields(conn, "experiments", {"id": found.experiment["id"]}, fields)
        return created(found.experiment["id"], False)
    if xsi_type not in catalog.SESSION_TYPES:
        raise HTTPException(
            400,
            f"xsiType {xsi_type!r} is not a session type this XNAT knows: "
            f"{', '.join(sorted(catalog.SESSION_TYPES))}",
        )
    subject = found.subject
    if subject is None:
        subject_ref = fields.pop("subject_ID", None)
        subject = catalog.get_subject(call.db, found.project["id"], subject_ref or "")
        if subject is None:
            raise HTTPException(404, f"subject {subject_ref!r} not found in {found.project['id']}")
    label = check_xnat_id("experiment", fields.pop("label", call.path.experiment or ""))
    fields.setdefault("modality", catalog.SESSION_TYPES[xsi_type])
    with call.db.write() as conn:
        experiment_id = catalog.new_experiment_id(call.db, conn)
        conn.execute(
            "INSERT INTO experiments (id, project, subject_id, label, xsi_type, fields, "
            "insert_date, insert_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                experiment_id,
                found.project["id"],
                subject["id"],
                label,
                xsi_type,
                json.dumps(fields),
                catalog.now_text(),
                call.user.login,
            ),
        )
    log.info("created %s %s (%s) in %s", xsi_type, label, experiment_id, found.project["id"])
    events.publish(
        events.session_created(found.project["id"], experiment_id, xsi_type, call.user.login)
    )
    return created(experiment_id, True)


def get_experiment(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None
    row = found.experiment
    data = catalog.experiment_row_json(row)
    data.pop("xsiType", None)
    if call.fmt == "xml":
        return object_xml.response(row["xsi_type"], data)
    return item_response(row["xsi_type"], data, start_date=row["insert_date"])


def delete_experiment(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None and found.project is not None
    session_id = found.experiment["id"]
    folder = archive.object_directory(
        call.data_dir, Resolved(path=found.path, project=found.project, experiment=found.experiment)
    )
    with call.db.write() as conn:
        conn.execute(
            "DELETE FROM experiments WHERE id = ? OR session_id = ?", (session_id, session_id)
        )
        _purge_orphans(conn)
        archive_changes.discard_from_archive(call.db, call.data_dir, folder)
    return Response(status_code=200)


# ---------------------------------------------------------------- scans
def list_scans(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None
    rows = call.db.query("SELECT * FROM scans WHERE experiment_id = ?", (found.experiment["id"],))
    base = f"/data/experiments/{found.experiment['id']}/scans"
    listing = [
        {**catalog.scan_row_json(r), "URI": f"{base}/{r['id']}"}
        for r in sorted(rows, key=lambda r: (len(r["id"]), r["id"]))
    ]
    return result_set(listing, call.fmt, "Scans", call.query)


def put_scan(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None
    xsi_type = call.query.get("xsiType") or (
        found.scan["xsi_type"] if found.scan is not None else "xnat:imageScanData"
    )
    fields = call.fields_for(xsi_type, "xnat:imageScanData")
    fields.pop("ID", None)
    if found.scan is not None:
        with call.db.write() as conn:
            catalog.update_fields(
                conn,
                "scans",
                {"experiment_id": found.experiment["id"], "id": found.scan["id"]},
                fields,
            )
        return created(found.scan["id"], False)
    if xsi_type not in catalog.SCAN_TYPES:
        raise HTTPException(
            400,
            f"xsiType {xsi_type!r} is not a scan type this XNAT knows: "
            f"{', '.join(sorted(catalog.SCAN_TYPES))}",
        )
    scan_id = check_xnat_id("scan", call.path.scan or "")
    with call.db.write() as conn:
        conn.execute(
            "INSERT INTO scans (experiment_id, id, xsi_type, fields) VALUES (?, ?, ?, ?)",
            (found.experiment["id"], scan_id, xsi_type, json.dumps(fields)),
        )
    return created(scan_id, True)


def get_scan(call: Call, found: Resolved) -> Response:
    assert found.scan is not None
    data = catalog.scan_row_json(found.scan)
    data.pop("xsiType", None)
    if call.fmt == "xml":
        return object_xml.response(found.scan["xsi_type"], data)
    return item_response(found.scan["xsi_type"], data)


def delete_scan(call: Call, found: Resolved) -> Response:
    assert found.scan is not None and found.experiment is not None
    folder = archive.object_directory(call.data_dir, found)
    with call.db.write() as conn:
        conn.execute(
            "DELETE FROM scans WHERE experiment_id = ? AND id = ?",
            (found.experiment["id"], found.scan["id"]),
        )
        _purge_orphans(conn)
        archive_changes.discard_from_archive(call.db, call.data_dir, folder)
    return Response(status_code=200)
