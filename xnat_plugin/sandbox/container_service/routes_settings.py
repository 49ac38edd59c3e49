"""Enabling wrappers (site and project) and project defaults (`…/config`), addressed either by
command id + wrapper name or by wrapper id, as XNAT's CommandConfigurationRestApi offers."""

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
from xnat_plugin.sandbox.container_service.catalog import WrapperNotFound, WrapperRef, find_wrapper
from xnat_plugin.sandbox.container_service.service import ContainerService
from xnat_plugin.sandbox.container_service.store import SITE

router = APIRouter()

BY_NAME = "/commands/{command_id:int}/wrappers/{wrapper_name}"
BY_ID = "/wrappers/{wrapper_id:int}"


def _ref(
    service: ContainerService,
    command_id: int | None,
    wrapper_name: str | None,
    wrapper_id: int | None,
) -> WrapperRef:
    return find_wrapper(
        service.store, command_id=command_id, wrapper_name=wrapper_name, wrapper_id=wrapper_id
    )


def _not_found(exc: WrapperNotFound) -> PlainTextResponse:
    return PlainTextResponse(str(exc), status_code=404)


def _site_enabled(service: ContainerService, user: User, ref_args: tuple, value: bool | None):  # type: ignore[no-untyped-def]
    require_container_manager(user)
    try:
        ref = _ref(service, *ref_args)
    except WrapperNotFound as exc:
        return _not_found(exc)
    if value is None:
        return service.store.is_enabled(SITE, ref.wrapper_id)
    service.store.set_enabled(SITE, ref.wrapper_id, value)
    return Response(status_code=200)


def _project_enabled(  # type: ignore[no-untyped-def]
    service: ContainerService, user: User, project: str, ref_args: tuple, value: bool | None
):
    require_project_owner(user, project)
    try:
        ref = _ref(service, *ref_args)
    except WrapperNotFound as exc:
        return _not_found(exc)
    if value is None:
        return {
            "enabled-for-site": service.store.is_enabled(SITE, ref.wrapper_id),
            "enabled-for-project": service.store.is_enabled(project, ref.wrapper_id),
            "project": project,
        }
    service.store.set_enabled(project, ref.wrapper_id, value)
    return Response(status_code=200)


def _register_enable_routes() -> None:
    states = {"enabled": True, "disabled": False}
    for state, value in states.items():
        for prefix, by_id in ((BY_NAME, False), (BY_ID, True)):
            _add_site(prefix, state, value, by_id)
            _add_project(prefix, state, value, by_id)


def _ref_args(by_id: bool, request: Request) -> tuple:
    p = request.path_params
    if by_id:
        return (None, None, int(p["wrapper_id"]))
    return (int(p["command_id"]), p["wrapper_name"], None)


def _add_site(prefix: str, state: str, value: bool, by_id: bool) -> None:
    def put(
        request: Request,
        user: CurrentUser,
        service: Service,
    ) -> Any:
        return _site_enabled(service, user, _ref_args(by_id, request), value)

    router.add_api_route(f"{prefix}/{state}", put, methods=["PUT"], response_model=None)
    if state == "enabled":

        def get(
            request: Request,
            user: CurrentUser,
            service: Service,
        ) -> Any:
            return _site_enabled(service, user, _ref_args(by_id, request), None)

        router.add_api_route(f"{prefix}/enabled", get, methods=["GET"], response_model=None)


def _add_project(prefix: str, state: str, value: bool, by_id: bool) -> None:
    def put(
        project: str,
        request: Request,
        user: CurrentUser,
        service: Service,
    ) -> Any:
        return _project_enabled(service, user, project, _ref_args(by_id, request), value)

    path = f"/projects/{{project}}{prefix}"
    router.add_api_route(f"{path}/{state}", put, methods=["PUT"], response_model=None)
    if state == "enabled":

        def get(
            project: str,
            request: Request,
            user: CurrentUser,
            service: Service,
        ) -> Any:
            return _project_enabled(service, user, project, _ref_args(by_id, request), None)

        router.add_api_route(f"{path}/enabled", get, methods=["GET"], response_model=None)


def _add_config(prefix: str, by_id: bool, project_level: bool) -> None:
    path = f"/projects/{{project}}{prefix}/config" if project_level else f"{prefix}/config"

    def check(user: User, request: Request) -> str:
        if project_level:
            project = str(request.path_params["project"])
            require_project_owner(user, project)
            return project
        require_container_manager(user)
        return SITE

    async def post(
        request: Request,
        user: CurrentUser,
        service: Service,
    ) -> Any:
        project = check(user, request)
        try:
            ref = _ref(service, *_ref_args(by_id, request))
            config = json.loads(await request.body() or b"{}")
        except WrapperNotFound as exc:
            return _not_found(exc)
        except ValueError as exc:
            return PlainTextResponse(f"Bad request:\nnot JSON: {exc}", status_code=400)
        if not isinstance(config, dict):
            return PlainTextResponse("Bad request:\na configuration is an object", 400)
        service.store.set_config(project, ref.wrapper_id, config)
        return Response(status_code=200)

    def get(
        request: Request,
        user: CurrentUser,
        service: Service,
    ) -> Any:
        project = check(user, request)
        try:
            ref = _ref(service, *_ref_args(by_id, request))
        except WrapperNotFound as exc:
            return _not_found(exc)
        return service.store.config(project, ref.wrapper_id) or {"inputs": {}, "outputs": {}}

    def delete(
        request: Request,
        user: CurrentUser,
        service: Service,
    ) -> Any:
        project = check(user, request)
        try:
            ref = _ref(service, *_ref_args(by_id, request))
        except WrapperNotFound as exc:
            return _not_found(exc)
        service.store.delete_config(project, ref.wrapper_id)
        return Response(status_code=204)

    router.add_api_route(path, post, methods=["POST"], response_model=None)
    router.add_api_route(path, get, methods=["GET"], response_model=None)
    router.add_api_route(path, delete, methods=["DELETE"], response_model=None)


_register_enable_routes()
for _prefix, _by_id in ((BY_NAME, False), (BY_ID, True)):
    _add_config(_prefix, _by_id, project_level=False)
    _add_config(_prefix, _by_id, project_level=True)
