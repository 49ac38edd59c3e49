"""`/data/…` (and `/REST/…`): one route that parses the nested path and hands the request to
the handler for its level and method. Request bodies are spooled to disk here, with their MD5,
before any handler runs; a request that fails leaves its spool file removed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from xnat_plugin.sandbox import catalog
from xnat_plugin.sandbox import routes_assessors as assessors
from xnat_plugin.sandbox import routes_experiments as experiments
from xnat_plugin.sandbox import routes_files as files
from xnat_plugin.sandbox import routes_projects as projects
from xnat_plugin.sandbox import routes_reconstructions as reconstructions
from xnat_plugin.sandbox import routes_scans as scans
from xnat_plugin.sandbox import routes_shares as shares
from xnat_plugin.sandbox import routes_subjects as subjects
from xnat_plugin.sandbox.archive import SPOOL_DIR
from xnat_plugin.sandbox.auth import CurrentUser, User
from xnat_plugin.sandbox.call import Call
from xnat_plugin.sandbox.data_path import BadPath, DataPath, parse_data_path
from xnat_plugin.sandbox.listing import result_set
from xnat_plugin.sandbox.resolve import Resolved, resolve
from xnat_plugin.sandbox.upload_spool import BATCH_BYTES as SPOOL_BATCH_BYTES
from xnat_plugin.sandbox.upload_spool import spool_chunks

router = APIRouter()
Handler = Callable[[Call, Resolved], Response]

# (level of the deepest object, method) → handler for that object.
ITEM_HANDLERS: dict[tuple[str, str], Handler] = {
    ("project", "GET"): projects.get_project,
    ("project", "PUT"): projects.put_project,
    ("project", "DELETE"): projects.delete_project,
    ("subject", "GET"): subjects.get_subject,
    ("subject", "PUT"): subjects.put_subject,
    ("subject", "DELETE"): subjects.delete_subject,
    ("experiment", "GET"): experiments.get_experiment,
    ("experiment", "PUT"): experiments.put_experiment,
    ("experiment", "DELETE"): experiments.delete_experiment,
    ("assessor", "GET"): assessors.get_assessor,
    ("assessor", "PUT"): assessors.put_assessor,
    ("assessor", "DELETE"): assessors.delete_assessor,
    ("scan", "GET"): scans.get_scan,
    ("scan", "PUT"): scans.put_scan,
    ("scan", "DELETE"): scans.delete_scan,
    ("reconstruction", "GET"): reconstructions.get_reconstruction,
    ("reconstruction", "PUT"): reconstructions.put_reconstruction,
    ("reconstruction", "DELETE"): reconstructions.delete_reconstruction,
    ("resource", "GET"): files.get_resource,
    ("resource", "PUT"): files.put_resource,
    ("resource", "DELETE"): files.delete_resource,
}
# collection name → listing handler.
LISTINGS: dict[str, Handler] = {
    "subjects": subjects.list_subjects,
    "experiments": experiments.list_experiments,
    "scans": scans.list_scans,
    "reconstructions": reconstructions.list_reconstructions,
    "assessors": assessors.list_assessors,
    "resources": files.list_resources,
}
FILE_HANDLERS: dict[str, Handler] = {
    "GET": files.get_file,
    "PUT": files.put_file,
    "DELETE": files.delete_file,
}


def _dispatch(call: Call) -> Response:
    path, method = call.path, call.method
    if method == "POST":  # XNAT treats POST like PUT for creation and uploads
        method = "PUT"
    if method == "HEAD":  # Restlet answers HEAD as GET without the body
        method = "GET"
    if path.level == "root" and path.collection == "projects" and method == "GET":
        return projects.list_projects(call)
    if path.level == "root" and path.collection is None:
        raise HTTPException(404, "nothing at /data")
    if path.share is not None or (path.collection == "projects" and path.level != "root"):
        return _share_call(call, method)
    if method == "DELETE" and path.project is not None and path.level in ("subject", "experiment"):
        unshared = _delete_through_share(call)
        if unshared is not None:
            return unshared

    scan_ids: list[str] | None = None
    if (
        path.scan is not None
        and path.collection == "files"
        and path.resource is None
        and (path.scan == "ALL" or "," in path.scan)
    ):
        scan_ids, path.scan = path.scan.split(","), None

    write = method in ("PUT", "DELETE")
    is_item = path.collection is None and path.file_path is None
    creating = method == "PUT" and is_item
    if path.file_path is not None or (path.collection == "files" and method == "PUT"):
        creating = method == "PUT"  # uploading may create the resource
    try:
        found = resolve(call.db, path, call.user, write=write, leaf_optional=creating)
    except HTTPException as exc:
        # xnatpy re-reads every listing it holds after a delete, including listings under the
        # deleted object; an empty listing (not 404) keeps its `delete()` working. An unknown
        # project is still a 404.
        below_known_project = path.project is None or catalog.get_project(call.db, path.project)
        listing = method == "GET" and path.collection and call.fmt != "zip"
        if exc.status_code == 404 and listing and below_known_project:
            return result_set([], call.fmt, path.collection or "")
        raise

    if path.file_path is not None or path.collection == "files":
        if path.collection == "files" and method == "GET":
            return files.list_files(call, found, scan_ids)
        if path.collection == "files" and method == "PUT" and path.resource is not None:
            return files.put_file(call, found)
        handler = FILE_HANDLERS.get(method)
        if handler is None or path.file_path is None:
            raise HTTPException(405, f"{call.method} is not allowed here")
        return handler(call, found)

    if path.collection is not None:
        if method != "GET" or path.collection not in LISTINGS:
            raise HTTPException(405, f"{call.method} is not allowed on a listing")
        return LISTINGS[path.collection](call, found)

    item_handler = ITEM_HANDLERS.get((path.level, method))
    if item_handler is None:
        raise HTTPException(405, f"{call.method} is not allowed on a {path.level}")
    return item_handler(call, found)


def _share_call(call: Call, method: str) -> Response:
    """`…/subjects/S/projects[/P2]`: the projects a subject or experiment is shared into."""
    found = resolve(call.db, call.path, call.user)
    if call.path.share is None:
        if method != "GET":
            raise HTTPException(405, f"{call.method} is not allowed on a listing")
        return shares.list_shares(call, found)
    handler = {"PUT": shares.put_share, "DELETE": shares.delete_share}.get(method)
    if handler is None:
        raise HTTPException(405, f"{call.method} is not allowed on a share")
    return handler(call, found)


def _delete_through_share(call: Call) -> Response | None:
    """A DELETE of a subject or experiment through a project it is only shared into removes
    the share, never the object (which lives in its own project); None for any other DELETE."""
    if call.path.collection is not None or call.path.file_path is not None:
        return None
    seen = resolve(call.db, call.path, call.user)
    row = seen.experiment if call.path.level == "experiment" else seen.subject
    if row is None or seen.project is None or row["project"] == seen.project["id"]:
        return None
    target = replace(call.path, share=seen.project["id"])
    return shares.delete_share(replace(call, path=target), seen)


async def _spool_body(
    request: Request, spool_dir: Path
) -> tuple[Path | None, str | None, dict[str, str]]:
    """Write the request body (raw, or the first file of a multipart form) to a temporary file
    in `spool_dir`, hashing as it goes. Returns (path or None, multipart file name, stats)."""
    content_type = request.headers.get("content-type", "")
    name: str | None = None
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        try:
            upload = next((v for v in form.values() if hasattr(v, "filename")), None)
            if upload is None:
                return None, None, {}
            name = upload.filename  # type: ignore[union-attr]
            spooled = await spool_chunks(_form_file_chunks(upload), spool_dir, keep_empty=True)
        finally:
            await form.close()
    else:
        spooled = await spool_chunks(request.stream(), spool_dir)
    if spooled is None:
        return None, None, {}
    return spooled.path, name, {"md5": spooled.md5, "size": str(spooled.size)}


async def _form_file_chunks(upload: Any) -> AsyncIterator[bytes]:
    while chunk := await upload.read(SPOOL_BATCH_BYTES):
        yield chunk


async def handle_data(request: Request, path: str, user: User) -> Response:
    app_state = request.app.state
    try:
        # Empty segments are kept: `files//etc/passwd` must be refused, not read as `etc/passwd`.
        segments = path.split("/")
        if segments and segments[-1] == "":
            segments.pop()
        if segments[:1] == ["archive"]:  # /data/archive/… is an alias of /data/…
            segments = segments[1:]
        data_path: DataPath = parse_data_path(segments)
    except BadPath as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    query = dict(request.query_params)
    body_file, body_name, stats = None, None, dict[str, str]()
    if request.method in ("PUT", "POST"):
        # Who may write here, and whether the parents exist, is answered before the body is
        # read: a refused upload costs the server nothing (the handler checks again after).
        resolve(app_state.db, replace(data_path), user, write=True, leaf_optional=True)
        body_file, body_name, stats = await _spool_body(request, app_state.data_dir / SPOOL_DIR)
    call = Call(
        method=request.method,
        path=data_path,
        query=query,
        user=user,
        db=app_state.db,
        data_dir=app_state.data_dir,
        body_file=body_file,
        body_name=body_name,
        content_type=request.headers.get("content-type", ""),
        extra=stats,
        limits=app_state.limits,
    )
    try:
        answer = await run_in_threadpool(_dispatch, call)
    finally:
        if body_file is not None:
            body_file.unlink(missing_ok=True)
    if request.method == "HEAD" and not isinstance(answer, FileResponse):
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return Response(status_code=answer.status_code, headers=headers)
    return answer


@router.api_route("/data/{path:path}", methods=["GET", "HEAD", "PUT", "POST", "DELETE"])
async def data_route(path: str, request: Request, user: CurrentUser) -> Response:
    return await handle_data(request, path, user)


@router.api_route("/REST/{path:path}", methods=["GET", "HEAD", "PUT", "POST", "DELETE"])
async def rest_route(path: str, request: Request, user: CurrentUser) -> Response:
    return await handle_data(request, path, user)
