"""The sandbox's Container Service REST API under `/xapi` (and the workflow paths under
`/data`), and the hooks that start and stop its workers with the server.

`app.py` includes `router` and calls `on_startup(app)` / `on_shutdown(app)`. The data folder
is `app.state.data_dir` (else the folder of the sandbox database) and the pool size
`app.state.container_workers`, else the environment variable XNAT_MONAI_CONTAINER_WORKERS,
else 1.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI

from xnat_plugin.sandbox.container_service import (
    routes_commands,
    routes_containers,
    routes_events,
    routes_launch,
    routes_settings,
    routes_workflows,
)
from xnat_plugin.sandbox.container_service.service import ContainerService

xapi = APIRouter(prefix="/xapi")
for _part in (routes_commands, routes_settings, routes_launch, routes_containers, routes_events):
    xapi.include_router(_part.router)
router = APIRouter()
router.include_router(xapi)
# The workflows of launches are XNAT's own `/data` paths.
router.include_router(routes_workflows.router)


def _data_dir(app: FastAPI) -> Path:
    data_dir = getattr(app.state, "data_dir", None)
    if data_dir is not None:
        return Path(data_dir)
    return Path(app.state.db.path).parent


def on_startup(app: FastAPI) -> None:
    workers = int(
        getattr(app.state, "container_workers", None)
        or os.environ.get("XNAT_MONAI_CONTAINER_WORKERS")
        or 1
    )
    service = ContainerService(_data_dir(app), workers=workers, db=getattr(app.state, "db", None))
    base_url = getattr(app.state, "base_url", None)
    if base_url:
        service.remember_base_url(str(base_url))
    app.state.container_service = service
    service.start()


def on_shutdown(app: FastAPI) -> None:
    service: ContainerService | None = getattr(app.state, "container_service", None)
    if service is not None:
        service.stop()
