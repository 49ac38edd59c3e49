"""`/xapi/containers…` as `ContainerRestApi` answers them: the container history table, one
container, kill, and its logs.

Who sees what (`ContainerRestApi.isUserOwnerOrAdmin`): a Container Manager or a user with all
data access (the sandbox's admins), the owner of the container's project, or the user who
launched it. The listings leave other containers out; one container read by anyone else comes
back scrubbed (`scrubProtectedData`). Who may kill (`ContainerServiceImpl.verifyKillPermission`):
the launcher, an all-data admin, or the project's owner; anyone else is answered 401 with the
message CS's wrapped exception carries.
"""

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
from xnat_plugin.sandbox.container_service.records import ContainerRow
from xnat_plugin.sandbox.container_service.service import ContainerService

router = APIRouter()

KILL_REFUSED = "Unable to determine user permissions"


def container_json(row: ContainerRow) -> dict[str, Any]:
    """A container as CS's `Container` serialises it (the fields the sandbox tracks)."""
    return {
        "id": row.id,
        "command-id": row.command_id,
        "status": row.status,
        "status-time": row.status_time,
        "wrapper-id": row.wrapper_id,
        "container-id": row.container_id,
        "workflow-id": row.workflow_id,
        "user-id": row.user,
        "project": row.project or None,
        "backend": "docker",
        "docker-image": row.docker_image,
        "command-line": row.command_line,
        "subtype": "docker",
        "env": row.env,
        "ports": {},
        "mounts": [],
        "inputs": row.inputs,
        "outputs": row.outputs,
        "history": row.history,
        "log-paths": [str(Path(row.log_dir) / n) for n in ("stdout.log", "stderr.log")]
        if row.is_final and row.log_dir
        else [],
        "swarm": False,
    }


def scrubbed_json(row: ContainerRow) -> dict[str, Any]:
    """`ContainerRestApi.scrubProtectedData`: what a user who may not control it sees."""
    return {
        "id": row.id,
        "command-id": row.command_id,
        "status": row.status,
        "status-time": row.status_time,
        "wrapper-id": row.wrapper_id,
        "user-id": row.user,
        "project": row.project or None,
        "backend": "docker",
        "docker-image": row.docker_image,
        "command-line": "[REDACTED]" if row.command_line else "",
        "env": {},
        "ports": {},
        "mounts": [],
        "inputs": [],
        "outputs": [],
        "history": [],
        "log-paths": [],
        "swarm": False,
    }


def owner_or_admin(user: User, row: ContainerRow) -> bool:
    return (
        user.is_admin
        or user.login == row.user
        or (bool(row.project) and user.can_manage(row.project))
    )


def _find(service: ContainerService, container_id: str) -> ContainerRow | None:
    """By database id, or by the `container-id` string (`HibernateContainerEntityService.get`)."""
    if container_id.isdigit():
        return service.store.container(int(container_id))
    if container_id.startswith("sandbox-") and container_id[8:].isdigit():
        return service.store.container(int(container_id[8:]))
    return None


def _not_found(container_id: str) -> Response:
    return PlainTextResponse(f"No container with ID {container_id}", status_code=404)


@router.get("/containers")
def list_containers(user: CurrentUser, service: Service) -> list[dict[str, Any]]:
    return [container_json(r) for r in service.store.containers() if owner_or_admin(user, r)]


@router.get("/projects/{project}/containers")
def list_project_containers(
    project: str, user: CurrentUser, service: Service
) -> list[dict[str, Any]]:
    require_project_read(user, project)
    return [container_json(r) for r in service.store.containers(project) if owner_or_admin(user, r)]


@router.get("/containers/{container_id}", response_model=None)
def read_container(container_id: str, user: CurrentUser, service: Service) -> Any:
    row = _find(service, container_id)
    if row is None:
        return _not_found(container_id)
    return container_json(row) if owner_or_admin(user, row) else scrubbed_json(row)


def _kill(service: ContainerService, user: User, container_id: str) -> Response:
    row = _find(service, container_id)
    if row is None:
        return _not_found(container_id)
    may_kill = (
        user.login == row.user
        or user.is_admin
        or (bool(row.project) and user.can_manage(row.project))
    )
    if not may_kill:
        # verifyKillPermission wraps its own refusal: the caller sees the outer message.
        return PlainTextResponse(KILL_REFUSED, status_code=401)
    service.kill(row, user.login)
    return PlainTextResponse(row.container_id)


@router.post("/containers/{container_id}/kill", response_model=None)
def kill_container(container_id: str, user: CurrentUser, service: Service) -> Response:
    return _kill(service, user, container_id)


@router.post("/projects/{project}/containers/{container_id}/kill", response_model=None)
def kill_project_container(
    project: str, container_id: str, user: CurrentUser, service: Service
) -> Response:
    require_project_read(user, project)  # restrictTo = Read
    return _kill(service, user, container_id)


@router.get("/containers/{container_id}/logs/{which}", response_model=None)
def container_log(container_id: str, which: str, user: CurrentUser, service: Service) -> Response:
    row = _find(service, container_id)
    if row is None or which not in ("stdout", "stderr"):
        return _not_found(container_id)
    if not owner_or_admin(user, row):
        # ContainerControlUserAuthorization: Container Manager, data access, owner, launcher.
        return PlainTextResponse(f"User {user.login} may not read these logs.", status_code=403)
    path = Path(row.log_dir) / f"{which}.log" if row.log_dir else None
    if path is None or not path.is_file():
        # The container has not started (or wrote nothing) yet.
        return Response(status_code=204)
    # A running container's log grows while it is served: read it once, so the body and its
    # Content-Length agree (streaming the file would send more than it declared).
    return Response(path.read_bytes(), media_type="text/plain")
