"""Who may do what on the container-service REST paths, as XNAT decides it.

Registering commands and site settings need the Container Manager role (site admins hold
it; the sandbox has no separate role, so: admins). Project settings and project event
subscriptions need the project's owner (XNAT's "Delete" permission); launching needs read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from xnat_plugin.sandbox.auth import User, current_user
from xnat_plugin.sandbox.container_service.service import ContainerService


def container_service(request: Request) -> ContainerService:
    service: ContainerService = request.app.state.container_service
    # The URL containers use as XNAT_HOST: the address clients reach this server at.
    service.remember_base_url(str(request.base_url))
    return service


def require_container_manager(user: User) -> None:
    if not user.is_admin:
        raise HTTPException(
            status_code=403,
            detail=f"User {user.login} is not a Container Manager or site administrator.",
        )


def require_project_read(user: User, project: str) -> None:
    if not user.can_read(project):
        raise HTTPException(status_code=403, detail=f"User {user.login} cannot read {project}.")


def require_project_owner(user: User, project: str) -> None:
    if not user.can_manage(project):
        raise HTTPException(
            status_code=403,
            detail=f"User {user.login} does not own project {project}: an owner or a site "
            "administrator must change its container settings.",
        )


# Route parameters: the authenticated caller and this app's container service.
CurrentUser = Annotated[User, Depends(current_user)]
Service = Annotated[ContainerService, Depends(container_service)]
