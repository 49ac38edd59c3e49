"""The sandbox XNAT as a FastAPI app: data REST, auth, users, schemas, and (when that module is
present) the Container Service REST from `xnat_plugin.sandbox.container_service.routes`."""

from __future__ import annotations

import importlib
import logging
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse

from xnat_plugin.sandbox import (
    auth,
    routes_archive_xml,
    routes_auth,
    routes_data,
    routes_import,
    routes_project_settings,
    routes_site,
    routes_users,
)
from xnat_plugin.sandbox.archive import DB_FILE, SPOOL_DIR, archive_root
from xnat_plugin.sandbox.archive_changes import finish_pending_changes
from xnat_plugin.sandbox.db import Database
from xnat_plugin.sandbox.limits import BodyLimit, Limits
from xnat_plugin.sandbox.safe_paths import Refused

log = logging.getLogger(__name__)
CONTAINER_SERVICE_MODULE = "xnat_plugin.sandbox.container_service.routes"


def open_database(data_dir: Path) -> Database:
    return Database(Path(data_dir) / DB_FILE)


def ensure_admin(db: Database, user: str, password: str) -> None:
    """Create the site administrator on first start (an existing account is left as it is)."""
    if auth.create_user(db, user, password, is_admin=True):
        return
    if auth.check_password(db, user, password) is None:
        log.warning(
            "user %s already exists in %s with another password; it is kept (log in with that "
            "one, or start on a new --data-dir)",
            user,
            db.path.parent,
        )


def _container_service() -> Any | None:
    try:
        return importlib.import_module(CONTAINER_SERVICE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name and CONTAINER_SERVICE_MODULE.startswith(exc.name):
            return None
        raise


def create_app(
    data_dir: Path,
    *,
    user: str = "admin",
    password: str = "admin",
    container_workers: int = 1,
    base_url: str | None = None,
    limits: Limits | None = None,
) -> FastAPI:
    """A sandbox XNAT over `data_dir` (created if new; an existing one is reopened as is).

    `container_workers` sizes the Container Service's pool; `base_url` is where the server
    will be reachable (containers get it as XNAT_HOST); `limits` bound request bodies and zips
    (default: `Limits.from_environment()`)."""
    limits = limits or Limits.from_environment()
    data_dir = Path(data_dir).resolve()
    archive_root(data_dir).mkdir(parents=True, exist_ok=True)
    db = open_database(data_dir)
    # A stop between a commit and its file moves: finish them (they come from the spool).
    finish_pending_changes(db, data_dir)
    # Uploads interrupted by a stop are spooled here; they never reached the archive.
    shutil.rmtree(data_dir / SPOOL_DIR, ignore_errors=True)
    ensure_admin(db, user, password)
    auth.bind_database(db)
    container_service = _container_service()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hooks: list[Callable[..., Any]] = []
        if container_service is not None:
            start = getattr(container_service, "on_startup", None)
            if start is not None:
                start(app)
            stop = getattr(container_service, "on_shutdown", None)
            if stop is not None:
                hooks.append(stop)
        yield
        for hook in hooks:
            hook(app)
        auth.unbind_database(db)

    app = FastAPI(title="xnat-monai sandbox", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.db = db
    app.state.data_dir = data_dir
    app.state.credential_cache = {}
    app.state.container_workers = container_workers
    app.state.base_url = base_url
    app.state.limits = limits
    app.add_middleware(BodyLimit, limits=limits)

    @app.exception_handler(HTTPException)
    async def plain_errors(request: Request, exc: HTTPException) -> PlainTextResponse:
        # XNAT answers errors with a text body, which clients show as the reason.
        return PlainTextResponse(
            str(exc.detail), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> PlainTextResponse:
        # A hostile or invalid name or path, refused before anything changed.
        return PlainTextResponse(str(exc), status_code=exc.status)

    @app.exception_handler(OSError)
    async def storage_failed(request: Request, exc: OSError) -> PlainTextResponse:
        # A disk that fails (full, read-only) is the server's fault, answered as such; handled
        # here rather than left to escape, which would also cut the client's connection.
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
        reason = exc.strerror or exc.__class__.__name__
        return PlainTextResponse(
            f"the server could not complete the request ({reason})",
            status_code=500,
        )

    @app.exception_handler(sqlite3.IntegrityError)
    async def conflicts(request: Request, exc: sqlite3.IntegrityError) -> PlainTextResponse:
        # Two objects with one label or ID: the transaction was rolled back, nothing changed.
        return PlainTextResponse(
            f"conflict with an existing object ({exc}); choose another label", status_code=409
        )

    for module in (
        routes_site,
        routes_auth,
        routes_users,
        routes_import,
        routes_project_settings,
        routes_archive_xml,
    ):
        app.include_router(module.router)
    if container_service is not None:
        app.include_router(container_service.router)
    app.include_router(routes_data.router)  # last: its catch-all must not shadow the others
    return app
