"""XNAT's event-service subscriptions (`/xapi/events/subscription…` and the project forms):
"when a session is created in project P, launch wrapper W on it" (`EventServiceRestApi`:
201 "<name>:<id>" when made, 424 with the validation's reason when refused)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from xnat_plugin.sandbox.auth import User
from xnat_plugin.sandbox.container_service.access import (
    CurrentUser,
    Service,
    require_container_manager,
    require_project_owner,
)
from xnat_plugin.sandbox.container_service.service import ContainerService
from xnat_plugin.sandbox.container_service.subscriptions import (
    VALIDATION_FAILED,
    SubscriptionInvalid,
    normalise_subscription,
)

router = APIRouter()


async def _create(
    request: Request, user: User, service: ContainerService, project: str | None
) -> Response:
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        return PlainTextResponse(f"Bad request:\n{exc}", status_code=400)
    try:
        subscription = normalise_subscription(body, service.store, user.login, project)
        created = service.store.add_subscription(subscription["name"], subscription)
    except (ValueError, SubscriptionInvalid) as exc:
        # EventServiceRestApi.handleFailedSubscriptionValidation
        return PlainTextResponse(VALIDATION_FAILED + str(exc), status_code=424)
    # XNAT answers 201 with "<name>:<id>".
    return PlainTextResponse(f"{created['name']}:{created['id']}", status_code=201)


@router.post("/events/subscription", response_model=None)
async def create_subscription(
    request: Request,
    user: CurrentUser,
    service: Service,
) -> Response:
    require_container_manager(user)
    return await _create(request, user, service, None)


@router.post("/projects/{project}/events/subscription", response_model=None)
async def create_project_subscription(
    project: str,
    request: Request,
    user: CurrentUser,
    service: Service,
) -> Response:
    require_project_owner(user, project)
    return await _create(request, user, service, project)


@router.get("/events/subscriptions")
def list_subscriptions(
    user: CurrentUser,
    service: Service,
) -> list[dict[str, Any]]:
    require_container_manager(user)
    return service.store.subscriptions()


@router.get("/projects/{project}/events/subscriptions")
def list_project_subscriptions(
    project: str,
    user: CurrentUser,
    service: Service,
) -> list[dict[str, Any]]:
    require_project_owner(user, project)
    return [
        s
        for s in service.store.subscriptions()
        if project in (s.get("event-filter") or {}).get("project-ids", [])
    ]


def _owned(service: ContainerService, user: User, sub_id: int, project: str | None) -> bool:
    sub = service.store.subscription(sub_id)
    if sub is None:
        return False
    if project is None:
        require_container_manager(user)
        return True
    require_project_owner(user, project)
    return project in (sub.get("event-filter") or {}).get("project-ids", [])


@router.get("/events/subscription/{sub_id}", response_model=None)
@router.get("/projects/{project}/events/subscription/{sub_id}", response_model=None)
def read_subscription(
    sub_id: int,
    user: CurrentUser,
    service: Service,
    project: str | None = None,
) -> Any:
    if not _owned(service, user, sub_id, project):
        return PlainTextResponse(f"No subscription with id {sub_id}.", status_code=404)
    return service.store.subscription(sub_id)


@router.delete("/events/subscription/{sub_id}", response_model=None)
@router.delete("/projects/{project}/events/subscription/{sub_id}", response_model=None)
def delete_subscription(
    sub_id: int,
    user: CurrentUser,
    service: Service,
    project: str | None = None,
) -> Response:
    if not _owned(service, user, sub_id, project):
        return PlainTextResponse(f"No subscription with id {sub_id}.", status_code=404)
    service.store.delete_subscription(sub_id)
    return Response(status_code=204)
