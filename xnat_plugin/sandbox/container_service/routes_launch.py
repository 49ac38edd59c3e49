"""Launching: the launch UI's pre-resolution (`GET …/launch`), single launches and bulk
launches (`POST …/root/{rootInput}/launch|bulklaunch`), with and without a project."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.auth import User
from xnat_plugin.sandbox.container_service.access import (
    CurrentUser,
    Service,
    require_project_read,
)
from xnat_plugin.sandbox.container_service.catalog import WrapperNotFound, find_wrapper
from xnat_plugin.sandbox.container_service.launcher import LaunchTarget

router = APIRouter()

# (path prefix, does the path carry a project, does it name the wrapper by command id + name)
PREFIXES = (
    ("/projects/{project}/commands/{command_id:int}/wrappers/{wrapper_name}", True, True),
    ("/projects/{project}/wrappers/{wrapper_id:int}", True, False),
    ("/projects/{project}/wrapper/{wrapper_id:int}", True, False),
    ("/commands/{command_id:int}/wrappers/{wrapper_name}", False, True),
    ("/wrappers/{wrapper_id:int}", False, False),
)


def _target(request: Request, has_project: bool, by_name: bool) -> LaunchTarget:
    p = request.path_params
    return LaunchTarget(
        project=str(p["project"]) if has_project else None,
        command_id=int(p["command_id"]) if by_name else None,
        wrapper_name=str(p["wrapper_name"]) if by_name else None,
        wrapper_id=None if by_name else int(p["wrapper_id"]),
    )


async def _params(request: Request) -> dict[str, str]:
    """A flat JSON map body, or query parameters (XNAT accepts both)."""
    params = {k: v for k, v in request.query_params.items()}
    raw = await request.body()
    if raw.strip():
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("the launch body must be a flat JSON map of input name to value")
        params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
    return params


async def _launch_request(
    request: Request, user: User, has_project: bool, by_name: bool
) -> tuple[LaunchTarget, str, dict[str, str]] | Response:
    """What a launch and a bulk launch both read: the wrapper target (project access checked),
    the root input's name and the body's input values; a 400 answer for a body that is not a
    flat JSON map."""
    target = _target(request, has_project, by_name)
    if target.project:
        require_project_read(user, target.project)
    try:
        params = await _params(request)
    except ValueError as exc:
        return PlainTextResponse(f"Bad request:\n{exc}", status_code=400)
    return target, str(request.path_params["root_input"]), params


def _add_routes(prefix: str, has_project: bool, by_name: bool) -> None:
    async def launch(
        request: Request,
        user: CurrentUser,
        service: Service,
    ) -> Any:
        parsed = await _launch_request(request, user, has_project, by_name)
        if isinstance(parsed, Response):
            return parsed
        target, root, params = parsed
        report = service.launcher.launch(target, root, params, user.login)
        # Container Service answers a failed launch with its report and status 500.
        return JSONResponse(report, status_code=200 if report["status"] == "success" else 500)

    async def bulk(
        request: Request,
        user: CurrentUser,
        service: Service,
    ) -> Any:
        parsed = await _launch_request(request, user, has_project, by_name)
        if isinstance(parsed, Response):
            return parsed
        target, root, params = parsed
        try:
            return service.launcher.bulk_launch(target, root, params, user.login)
        except LookupError as exc:
            return PlainTextResponse(str(exc), status_code=404)
        except ValueError as exc:
            # CS reads the root value with Jackson; anything but a list of strings is a 500.
            return PlainTextResponse(f"Could not read the root value as a list: {exc}", 500)

    def launch_ui(
        request: Request,
        user: CurrentUser,
        service: Service,
    ) -> Any:
        target = _target(request, has_project, by_name)
        if target.project:
            require_project_read(user, target.project)
        try:
            ref = find_wrapper(
                service.store,
                command_id=target.command_id,
                wrapper_name=target.wrapper_name,
                wrapper_id=target.wrapper_id,
            )
        except WrapperNotFound as exc:
            return PlainTextResponse(str(exc), status_code=404)
        root_value = request.query_params.get(ref.root_input_name)
        if not root_value:
            return PlainTextResponse(
                f"Bad request:\ngive the root input as ?{ref.root_input_name}=<XNAT URI>",
                status_code=400,
            )
        try:
            return service.launch_ui(ref, target.project, root_value, user.login)
        except UserError as exc:
            # Container Service's answer to a CommandResolutionException.
            return PlainTextResponse(f"The command could not be resolved.\n{exc}", status_code=500)

    router.add_api_route(
        f"{prefix}/root/{{root_input}}/launch", launch, methods=["POST"], response_model=None
    )
    router.add_api_route(
        f"{prefix}/root/{{root_input}}/bulklaunch", bulk, methods=["POST"], response_model=None
    )
    for ui in ("launch", "launchui"):
        router.add_api_route(f"{prefix}/{ui}", launch_ui, methods=["GET"], response_model=None)


for _prefix, _has_project, _by_name in PREFIXES:
    _add_routes(_prefix, _has_project, _by_name)
