"""Resources and their files: create, list (rows clients parse), upload, download, zip, delete.

Uploads arrive already spooled to a temporary file next to the archive (see `routes_data.py`),
with their MD5 and size; here they are moved into place in one rename, so a failed request
leaves nothing behind. Downloads stream from disk; zips are built while they are sent.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Response
from fastapi.responses import FileResponse

from xnat_plugin.sandbox import archive, archive_changes
from xnat_plugin.sandbox.call import Call
from xnat_plugin.sandbox.container_service import uploads as cs_uploads
from xnat_plugin.sandbox.data_path import BadPath, check_file_path
from xnat_plugin.sandbox.limits import check_zip, inflate_member
from xnat_plugin.sandbox.listing import item_response, result_set
from xnat_plugin.sandbox.resolve import Resolved
from xnat_plugin.sandbox.safe_paths import check_xnat_id
from xnat_plugin.sandbox.zip_download import zip_response

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


def object_uri(found: Resolved) -> str:
    """The canonical URI of the object that owns resources in `found`."""
    assert found.project is not None
    if found.experiment is None:
        if found.subject is not None:
            return f"/data/projects/{found.project['id']}/subjects/{found.subject['id']}"
        return f"/data/projects/{found.project['id']}"
    base = f"/data/experiments/{found.experiment['id']}"
    if found.assessor is not None:
        return f"{base}/assessors/{found.assessor['id']}"
    if found.scan is not None:
        return f"{base}/scans/{found.scan['id']}"
    return base


def _resource_stats(db: Any, resource_id: int) -> tuple[int, int]:
    row = db.query_one(
        "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS s FROM files WHERE resource_id = ?",
        (resource_id,),
    )
    return int(row["n"]), int(row["s"])


def resource_row_json(db: Any, row: sqlite3.Row) -> dict[str, Any]:
    count, size = _resource_stats(db, row["id"])
    return {
        "xnat_abstractresource_id": str(row["id"]),
        "label": row["label"],
        "element_name": "xnat:resourceCatalog",
        "category": "resources",
        "cat_id": "",
        "cat_desc": "",
        "format": row["format"] or "",
        "content": row["content"] or "",
        "tags": "",
        "file_count": str(count),
        "file_size": str(size),
    }


# ---------------------------------------------------------------- resources
def list_resources(call: Call, found: Resolved) -> Response:
    rows = call.db.query(
        "SELECT * FROM resources WHERE owner = ? ORDER BY id", (found.resource_owner(),)
    )
    return result_set(
        [resource_row_json(call.db, r) for r in rows], call.fmt, "Resources", call.query
    )


def _resource_row(call: Call, conn: sqlite3.Connection, found: Resolved, label: str) -> sqlite3.Row:
    """The resource `label` on the object in `found`, its row inserted if missing."""
    owner = found.resource_owner()
    row = conn.execute(
        "SELECT * FROM resources WHERE owner = ? AND label = ?", (owner, label)
    ).fetchone()
    if row is None:
        check_xnat_id("resource", label)
        conn.execute(
            "INSERT INTO resources (owner, label, format, content, directory) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                owner,
                label,
                call.query.get("format", ""),
                call.query.get("content", ""),
                archive.resource_directory(
                    found,
                    label,
                    by_container_service=cs_uploads.is_container_service(call.user.alias),
                ).as_posix(),
            ),
        )
        row = conn.execute(
            "SELECT * FROM resources WHERE owner = ? AND label = ?", (owner, label)
        ).fetchone()
    return row


def put_resource(call: Call, found: Resolved) -> Response:
    label = call.path.resource
    assert label is not None
    new = found.resource is None
    with call.db.write() as conn:
        row = _resource_row(call, conn, found, label)
        folder = archive.archive_path(call.data_dir, row["directory"])
    folder.mkdir(parents=True, exist_ok=True)
    return Response(str(row["id"]), status_code=201 if new else 200, media_type="text/plain")


def get_resource(call: Call, found: Resolved) -> Response:
    assert found.resource is not None
    data = resource_row_json(call.db, found.resource)
    return item_response("xnat:resourceCatalog", data)


def delete_resource(call: Call, found: Resolved) -> Response:
    assert found.resource is not None
    folder = archive.archive_path(call.data_dir, found.resource["directory"])
    with call.db.write() as conn:
        conn.execute("DELETE FROM files WHERE resource_id = ?", (found.resource["id"],))
        conn.execute("DELETE FROM resources WHERE id = ?", (found.resource["id"],))
        archive_changes.discard_from_archive(call.db, call.data_dir, folder)
    return Response(status_code=200)


# ---------------------------------------------------------------- files
def _resources_below(call: Call, found: Resolved, scan_ids: list[str] | None) -> list[sqlite3.Row]:
    """Resources a `…/files` listing covers: one resource, or all of an object's (and, for
    `scans/ALL/files`, of the listed scans)."""
    if found.resource is not None:
        return [found.resource]
    if scan_ids is not None:
        assert found.experiment is not None
        experiment_id = found.experiment["id"]
        if scan_ids == ["ALL"]:
            owners = [
                f"scan:{experiment_id}/{r['id']}"
                for r in call.db.query(
                    "SELECT id FROM scans WHERE experiment_id = ?", (experiment_id,)
                )
            ]
        else:
            owners = [f"scan:{experiment_id}/{s}" for s in scan_ids]
        rows: list[sqlite3.Row] = []
        for owner in owners:
            rows += call.db.query("SELECT * FROM resources WHERE owner = ? ORDER BY id", (owner,))
        return rows
    return call.db.query(
        "SELECT * FROM resources WHERE owner = ? ORDER BY id", (found.resource_owner(),)
    )


def _owner_uri(call: Call, found: Resolved, resource: sqlite3.Row) -> str:
    owner: str = resource["owner"]
    if owner.startswith("scan:"):
        experiment_id, _, scan_id = owner[5:].partition("/")
        return f"/data/experiments/{experiment_id}/scans/{scan_id}"
    return object_uri(found)


# `?locator=` names the third column: the file's URI (default), its path on the server, or its
# path inside the project's archive folder (`CatalogUtils.getEntryDetails`: `projectPath` is
# relativised against the project's root archive path). Zips always carry URIs.
LOCATORS = {"uri": "URI", "absolutepath": "absolutePath", "projectpath": "projectPath"}


def _locator(call: Call) -> str:
    return LOCATORS.get(call.query.get("locator", "URI").lower(), "URI")


def _file_location(call: Call, resource: sqlite3.Row, path: str, base: str, locator: str) -> str:
    if locator == "URI":
        return f"{base}/{path}"
    directory = Path(resource["directory"])
    if locator == "absolutePath":
        return str(archive.archive_path(call.data_dir, directory, path))
    # The first folder of a resource's directory is its project's archive folder.
    return (Path(*directory.parts[1:]) / path).as_posix()


def list_files(call: Call, found: Resolved, scan_ids: list[str] | None = None) -> Response:
    resources = _resources_below(call, found, scan_ids)
    if call.fmt == "zip":
        return zip_response(call.db, call.data_dir, found, resources)
    locator = _locator(call)
    rows = []
    for resource in resources:
        base = f"{_owner_uri(call, found, resource)}/resources/{resource['id']}/files"
        for f in call.db.query(
            "SELECT * FROM files WHERE resource_id = ? ORDER BY path", (resource["id"],)
        ):
            rows.append(
                {
                    "Name": f["path"].rsplit("/", 1)[-1],
                    "Size": str(f["size"]),
                    locator: _file_location(call, resource, f["path"], base, locator),
                    "collection": resource["label"],
                    "file_tags": f["tags"] or "",
                    "file_format": f["format"] or "",
                    "file_content": f["content"] or "",
                    "cat_ID": str(resource["id"]),
                    "digest": f["digest"],
                }
            )
    return result_set(rows, call.fmt, "Files", call.query)


def _file_row(call: Call, found: Resolved) -> sqlite3.Row:
    assert found.resource is not None and call.path.file_path is not None
    row = call.db.query_one(
        "SELECT * FROM files WHERE resource_id = ? AND path = ?",
        (found.resource["id"], call.path.file_path),
    )
    if row is None:
        raise HTTPException(
            404, f"file {call.path.file_path} not found in resource {found.resource['label']}"
        )
    return row


class _FileInLargeChunks(FileResponse):
    """Starlette reads a file in 64 KB pieces, each on a worker thread; uvicorn offers no
    `pathsend` (sendfile), so fewer, larger reads are the cheapest way to send it."""

    chunk_size = CHUNK


def get_file(call: Call, found: Resolved) -> Response:
    row = _file_row(call, found)
    assert found.resource is not None
    path = archive.archive_path(call.data_dir, found.resource["directory"], row["path"])
    return _FileInLargeChunks(
        path,
        filename=path.name,
        media_type="application/octet-stream",
        headers={"Content-MD5": row["digest"]},
    )


def delete_file(call: Call, found: Resolved) -> Response:
    row = _file_row(call, found)
    assert found.resource is not None
    path = archive.archive_path(call.data_dir, found.resource["directory"], row["path"])
    with call.db.write() as conn:
        conn.execute(
            "DELETE FROM files WHERE resource_id = ? AND path = ?",
            (found.resource["id"], row["path"]),
        )
        archive_changes.discard_from_archive(call.db, call.data_dir, path)
    return Response(status_code=200)


def put_file(call: Call, found: Resolved) -> Response:
    """Store the spooled body as `file_path` in the resource (created when missing)."""
    if call.body_file is None:
        raise HTTPException(400, "no file content in the request body")
    relative = call.path.file_path or call.body_name
    if not relative:
        raise HTTPException(400, "no file name: PUT to …/files/<name> or send a multipart file")
    try:
        relative = check_file_path(relative)
    except BadPath as exc:
        raise HTTPException(400, str(exc)) from exc
    if call.flag("extract") and relative.lower().endswith(".zip"):
        return _put_zip_members(call, found)
    upload = StagedFile(relative, call.body_file, call.extra["md5"], int(call.extra["size"]))
    return _store_all(call, found, [upload])


@dataclass(frozen=True)
class StagedFile:
    """An uploaded file waiting outside the archive, with its MD5 and size."""

    relative: str
    source: Path
    md5: str
    size: int


def _store_all(call: Call, found: Resolved, uploads: list[StagedFile]) -> Response:
    """Move staged files into the resource as one transaction: the resource row is created if
    missing, every name is checked for a clash first (409 unless `overwrite=true`), and the
    files are renamed into place when the rows commit (`archive_changes`), so a refused request
    leaves neither rows nor files."""
    label = call.path.resource
    assert label is not None
    overwrite = call.flag("overwrite")
    with call.db.write() as conn:
        resource = found.resource or _resource_row(call, conn, found, label)
        targets = [
            archive.archive_path(call.data_dir, resource["directory"], upload.relative)
            for upload in uploads
        ]
        for upload in uploads:
            exists = conn.execute(
                "SELECT 1 FROM files WHERE resource_id = ? AND path = ?",
                (resource["id"], upload.relative),
            ).fetchone()
            if exists and not overwrite:
                raise HTTPException(
                    409,
                    f"file {upload.relative} already exists in resource "
                    f"{resource['label']}; add overwrite=true to replace it",
                )
        for upload in uploads:
            conn.execute(
                "INSERT OR REPLACE INTO files (resource_id, path, size, digest, format, content,"
                " tags) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    resource["id"],
                    upload.relative,
                    upload.size,
                    upload.md5,
                    call.query.get("format", ""),
                    call.query.get("content", ""),
                    call.query.get("tags", ""),
                ),
            )
        archive_changes.move_into_archive(
            call.db, call.data_dir, zip((u.source for u in uploads), targets, strict=True)
        )
    return Response(status_code=200)


def _put_zip_members(call: Call, found: Resolved) -> Response:
    """`extract=true`: the zip's members become files of the resource (all or none)."""
    assert call.body_file is not None
    staged: list[StagedFile] = []
    tmp_root = Path(tempfile.mkdtemp(dir=call.body_file.parent))
    try:
        with zipfile.ZipFile(call.body_file) as zf:
            for info in check_zip(zf, call.body_file.stat().st_size, call.limits):
                try:
                    name = check_file_path(info.filename)
                except BadPath as exc:
                    raise HTTPException(400, f"zip member: {exc}") from exc
                out = tmp_root / f"{len(staged)}.part"
                with out.open("wb") as dst:
                    md5 = inflate_member(zf, info, dst, digest=True)
                staged.append(StagedFile(name, out, md5, info.file_size))
        return _store_all(call, found, staged)
    except zipfile.BadZipFile as exc:
        raise HTTPException(400, f"extract=true but the body is not a zip file: {exc}") from exc
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
