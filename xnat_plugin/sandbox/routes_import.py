"""XNAT's import service, `POST /data/services/import?import-handler=DICOM-zip`: a zip of one
study's DICOM files becomes an archived session (subject created when new, one scan per
series with a `DICOM` resource), and the answer is the session's URI as text.

As in XNAT, the session's `SessionEvent` CREATED fires once the session is archived with its
scans and files, so an event subscription that launches on it finds the DICOM it needs. The
sandbox archives directly (no prearchive): `dest` must be `/archive` or `/archive/projects/P`.
`overwrite`: `none` (default) refuses an existing session, `append` adds to it, `delete`
replaces its scans. A refused upload leaves no rows and no files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from xnat_plugin.sandbox import archive, archive_changes, catalog, events
from xnat_plugin.sandbox.archive import SPOOL_DIR
from xnat_plugin.sandbox.auth import CurrentUser, User
from xnat_plugin.sandbox.db import Database
from xnat_plugin.sandbox.dicom_zip import DicomZipRefused, ImportedStudy, read_dicom_zip
from xnat_plugin.sandbox.routes_data import _spool_body
from xnat_plugin.sandbox.safe_paths import check_xnat_id

log = logging.getLogger(__name__)
router = APIRouter()

HANDLERS = {"DICOM-zip", "dicom-zip"}
OVERWRITE_MODES = {"none", "append", "delete"}


def _first(query: dict[str, str], *names: str) -> str | None:
    for name in names:
        if query.get(name):
            return query[name]
    return None


def _project_of(query: dict[str, str]) -> str:
    """PROJECT_ID (or xnatpy's `project`), else the project named in `dest`."""
    dest = (query.get("dest") or "/archive").rstrip("/")
    parts = [p for p in dest.split("/") if p]
    if parts[:1] == ["prearchive"]:
        raise HTTPException(
            400,
            f"dest={dest}: this XNAT has no prearchive; archive directly with "
            "dest=/archive/projects/<project>",
        )
    if parts[:1] != ["archive"] or (len(parts) > 1 and (parts[1] != "projects" or len(parts) > 3)):
        raise HTTPException(400, f"dest={dest}: use /archive or /archive/projects/<project>")
    from_dest = parts[2] if len(parts) == 3 else None
    project = _first(query, "PROJECT_ID", "project") or from_dest
    if not project:
        raise HTTPException(400, "no project: give PROJECT_ID or dest=/archive/projects/<project>")
    if from_dest and from_dest != project:
        raise HTTPException(400, f"PROJECT_ID {project} and dest {dest} name different projects")
    return project


@router.post("/data/services/import", response_model=None)
@router.post("/REST/services/import", response_model=None)
async def import_session(request: Request, user: CurrentUser) -> Response:
    query = dict(request.query_params)
    handler = query.get("import-handler") or query.get("import_handler") or "DICOM-zip"
    if handler not in HANDLERS:
        raise HTTPException(400, f"import-handler={handler}: this XNAT offers DICOM-zip")
    overwrite = (query.get("overwrite") or "none").lower()
    if overwrite not in OVERWRITE_MODES:
        raise HTTPException(400, f"overwrite={overwrite}: use none, append or delete")
    project = _project_of(query)
    state = request.app.state
    _check_project(state.db, user, project)  # before the body: a refused import reads none of it
    body, _, _ = await _spool_body(request, state.data_dir / SPOOL_DIR)
    if body is None:
        raise HTTPException(400, "no zip in the request body")
    try:
        uri = await run_in_threadpool(_archive_upload, state, user, project, query, overwrite, body)
    finally:
        body.unlink(missing_ok=True)
    # XNAT ends the URI with a line break; clients strip it.
    return Response(uri + "\r\n", status_code=200, media_type="text/plain")


def _check_project(db: Database, user: User, project: str) -> str:
    """The project's ID, if it exists (404) and `user` may add sessions to it (403)."""
    project_row = catalog.get_project(db, project)
    if project_row is None:
        raise HTTPException(404, f"project {project} not found")
    project_id: str = project_row["id"]
    if not user.can_write(project_id):
        raise HTTPException(403, f"user {user.login} may not add sessions to project {project_id}")
    return project_id


def _archive_upload(
    state: Any,
    user: User,
    project: str,
    query: dict[str, str],
    overwrite: str,
    body: Path,
) -> str:
    db: Database = state.db
    data_dir: Path = state.data_dir
    project = _check_project(db, user, project)
    staging = Path(tempfile.mkdtemp(dir=body.parent, prefix="import-"))
    try:
        try:
            study = read_dicom_zip(
                body,
                staging,
                subject=_first(query, "SUBJECT_ID", "subject"),
                session=_first(query, "EXPT_LABEL", "session"),
                limits=state.limits,
            )
        except DicomZipRefused as exc:
            raise HTTPException(400, str(exc)) from exc
        subject_id, session_id, new = _store(db, data_dir, user, project, study, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "imported %s (%s, %d scans) into %s",
        study.session_label,
        session_id,
        len(study.scans),
        project,
    )
    if new:
        events.publish(events.session_created(project, session_id, study.xsi_type, user.login))
    return f"/data/archive/projects/{project}/subjects/{subject_id}/experiments/{session_id}"


def _store(
    db: Database, data_dir: Path, user: User, project: str, study: ImportedStudy, overwrite: str
) -> tuple[str, str, bool]:
    """Rows for subject, session, scans, resources and files in one transaction, then the
    files renamed into the archive; returns (subject ID, session ID, whether it is new)."""
    check_xnat_id("subject", study.subject_label)
    session_dir = Path(project) / "arc001" / check_xnat_id("experiment", study.session_label)
    for scan in study.scans.values():
        check_xnat_id("scan", scan.scan_id)
    moves: list[tuple[Path, Path]] = []
    with db.write() as conn:
        subject_id = _subject(db, conn, user, project, study.subject_label)
        existing = conn.execute(
            "SELECT * FROM experiments WHERE project = ? AND label = ? AND session_id IS NULL",
            (project, study.session_label),
        ).fetchone()
        if existing is not None:
            if overwrite == "none":
                raise HTTPException(
                    409,
                    f"session {study.session_label} already exists in project {project}: "
                    "add overwrite=append to add to it, or overwrite=delete to replace it",
                )
            if existing["subject_id"] != subject_id:
                raise HTTPException(
                    409, f"session {study.session_label} belongs to another subject"
                )
            session_id = existing["id"]
            if overwrite == "delete":
                _drop_scans(db, conn, data_dir, session_id, session_dir)
        else:
            session_id = catalog.new_experiment_id(db, conn)
            conn.execute(
                "INSERT INTO experiments (id, project, subject_id, label, xsi_type, fields, "
                "insert_date, insert_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    project,
                    subject_id,
                    study.session_label,
                    study.xsi_type,
                    json.dumps(study.session_fields()),
                    catalog.now_text(),
                    user.login,
                ),
            )
        for scan in study.scans.values():
            conn.execute(
                "INSERT OR REPLACE INTO scans (experiment_id, id, xsi_type, fields) "
                "VALUES (?, ?, ?, ?)",
                (session_id, scan.scan_id, scan.xsi_type, json.dumps(scan.fields())),
            )
            folder = session_dir / "SCANS" / scan.scan_id / "DICOM"
            resource_id = _dicom_resource(conn, session_id, scan.scan_id, folder)
            for name, staged in scan.files.items():
                conn.execute(
                    "INSERT OR REPLACE INTO files (resource_id, path, size, digest, format, "
                    "content, tags) VALUES (?, ?, ?, ?, 'DICOM', 'RAW', '')",
                    (resource_id, name, staged.stat().st_size, _md5(staged)),
                )
                moves.append((staged, archive.archive_path(data_dir, folder, name)))
        # The files go into place when the rows commit: a refused import touches no file.
        archive_changes.move_into_archive(db, data_dir, moves)
    return subject_id, session_id, existing is None


def _subject(db: Database, conn: sqlite3.Connection, user: User, project: str, ref: str) -> str:
    row = conn.execute(
        "SELECT id FROM subjects WHERE project = ? AND (id = ? OR label = ?)",
        (project, ref, ref),
    ).fetchone()
    if row is not None:
        return str(row["id"])
    subject_id = catalog.new_subject_id(db, conn)
    conn.execute(
        "INSERT INTO subjects (id, project, label, fields, insert_date, insert_user) "
        "VALUES (?, ?, ?, '{}', ?, ?)",
        (subject_id, project, ref, catalog.now_text(), user.login),
    )
    return subject_id


def _dicom_resource(conn: sqlite3.Connection, session_id: str, scan_id: str, folder: Path) -> int:
    owner = f"scan:{session_id}/{scan_id}"
    conn.execute(
        "INSERT OR IGNORE INTO resources (owner, label, format, content, directory) "
        "VALUES (?, 'DICOM', 'DICOM', 'RAW', ?)",
        (owner, folder.as_posix()),
    )
    row = conn.execute(
        "SELECT id FROM resources WHERE owner = ? AND label = 'DICOM'", (owner,)
    ).fetchone()
    return int(row["id"])


def _drop_scans(
    db: Database, conn: sqlite3.Connection, data_dir: Path, session_id: str, session_dir: Path
) -> None:
    """overwrite=delete: the session's scans, their resources and files go (assessors stay),
    on disk only if the import commits."""
    conn.execute(
        "DELETE FROM files WHERE resource_id IN (SELECT id FROM resources WHERE owner LIKE ?)",
        (f"scan:{session_id}/%",),
    )
    conn.execute("DELETE FROM resources WHERE owner LIKE ?", (f"scan:{session_id}/%",))
    conn.execute("DELETE FROM scans WHERE experiment_id = ?", (session_id,))
    # Registered before the new files' moves: when the import commits, the old scans go first.
    archive_changes.discard_from_archive(
        db, data_dir, archive.archive_path(data_dir, session_dir, "SCANS")
    )


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
