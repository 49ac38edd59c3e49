"""`/xapi/containers…`: the container history table, one container, kill, and its logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from xnat_plugin.sandbox.auth import User
from xnat_plugin.sandbox.container_service.access import (
    CurrentUser,
    Service,
    require_project_read,
)
from xnat_plugin.sandbox.container_service.service import ContainerService
from xnat_plugin.sandbox.container_service.store import ContainerRow

router = APIRouter()


def container_json(row: ContainerRow) -> dict[str, Any]:
    """A container as Container Service's `Container` serialises it (the fields we track)."""
    return {
        "id": row.id,
        "command-id": row.command_id,
        "wrapper-id": row.wrapper_id,
        "status": row.status,
        "status-time": row.status_time,
        "container-id": row.container_id,
        "workflow-id": row.workflow_id,
        "user-id": row.user,
        "project": row.project or None,
        "backend": "process",
        "docker-image": row.docker_image,
        "command-line": row.command_line,
        "exit-code": row.exit_code,
        "inputs": row.inputs
        or [
            {"type": "wrapper-external", "name": row.root_input, "value": row.root_uri},
            *[
                {"type": "raw", "name": k, "value": v}
                for k, v in row.params.items()
                if k != row.root_input
            ],
        ],
        "outputs": row.outputs,
        "history": row.history,
        "log-paths": [str(Path(row.log_dir) / n) for n in ("stdout.log", "stderr.log")]
        if row.log_dir
        else [],
        "bulk-launch-id": row.bulk_launch_id,
        "subscription-id": row.subscription_id,
    }


def _visible(user: User, row: ContainerRow) -> bool:
    return (
        user.is_admin
        or row.user == user.login
        or (bool(row.project) and user.can_read(row.project))
    )


def _find(service: ContainerService, container_id: str) -> ContainerRow | None:
    """By database id, or by the `container-id` string."""
    if container_id.isdigit():
        return service.store.container(int(container_id))
    if container_id.startswith("sandbox-") and container_id[8:].isdigit():
        return service.store.container(int(container_id[8:]))
    return None


@router.get("/containers")
def list_containers(
    user: CurrentUser,
    service: Service,
) -> list[dict[str, Any]]:
    return [container_json(r) for r in service.store.containers() if _visible(user, r)]


@router.get("/projects/{project}/containers")
def list_project_containers(
    project: str,
    user: CurrentUser,
    service: Service,
) -> list[dict[str, Any]]:
    require_project_read(user, project)
    return [container_json(r) for r in service.store.containers(project)]


@router.get("/containers/{container_id}", response_model=None)
def read_container(
    container_id: str,
    user: CurrentUser,
    service: Service,
) -> dict[str, Any] | Response:
    row = _find(service, container_id)
    if row is None or not _visible(user, row):
        return PlainTextResponse(f"No container with id {container_id}.", status_code=404)
    return container_json(row)


@router.post("/containers/{container_id}/kill", response_model=None)
@router.post("/projects/{project}/containers/{container_id}/kill", response_model=None)
def kill_container(
    container_id: str,
    user: CurrentUser,
    service: Service,
) -> Response:
    row = _find(service, container_id)
    if row is None or not _visible(user, row):
        return PlainTextResponse(f"No container with id {container_id}.", status_code=404)
    service.kill(row.id)
    return PlainTextResponse(row.container_id)


@router.get("/containers/{container_id}/logs/{which}", response_model=None)
def container_log(
    container_id: str,
    which: str,
    user: CurrentUser,
    service: Service,
) -> Response:
    row = _find(service, container_id)
    if row is None or not _visible(user, row) or which not in ("stdout", "stderr"):
        return PlainTextResponse(f"No log {which} for container {container_id}.", 404)
    path = Path(row.log_dir) / f"{which}.log" if row.log_dir else None
    if path is None or not path.is_file():
        # The container has not started (or wrote nothing) yet.
        return Response(status_code=204)
    # A running container's log grows while it is served: read it once, so the body and its
    # Content-Length agree (streaming the file would send more than it declared).
    return Response(path.read_bytes(), media_type="text/plain")
