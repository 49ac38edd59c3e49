"""`/xapi/commands…`: register, read, update and delete commands; the Run Containers menu
(`/commands/available`); the images the registered commands use (`/docker/images`)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from xnat_plugin.commands.model import parse_command
from xnat_plugin.commands.validation import validate_command
from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.auth import User
from xnat_plugin.sandbox.container_service.access import (
    CurrentUser,
    Service,
    require_container_manager,
    require_project_read,
)
from xnat_plugin.sandbox.container_service.catalog import all_wrappers, xsi_type_matches
from xnat_plugin.sandbox.container_service.service import ContainerService
from xnat_plugin.sandbox.container_service.store import SITE, DuplicateCommandError

router = APIRouter()


def _invalid(reasons: list[str]) -> PlainTextResponse:
    # Container Service's CommandValidationException answer: 400, one reason per line.
    return PlainTextResponse("Invalid command:\n\t" + "\n\t".join(reasons), status_code=400)


async def _command_body(request: Request) -> dict[str, Any] | PlainTextResponse:
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        return PlainTextResponse(f"Bad request:\nnot JSON: {exc}", status_code=400)
    if not isinstance(body, dict):
        return _invalid(["a command must be a JSON object"])
    try:
        report = validate_command(parse_command(body))
    except UserError as exc:
        return _invalid([str(exc)])
    if report.errors:
        return _invalid(report.errors)
    return body


@router.get("/commands")
def list_commands(
    user: CurrentUser,
    service: Service,
    name: str | None = None,
    version: str | None = None,
    image: str | None = None,
) -> list[dict[str, Any]]:
    wanted = {"name": name, "version": version, "image": image}
    return [
        c
        for c in service.store.commands()
        if all(v is None or str(c.get(k) or "") == v for k, v in wanted.items())
    ]


def _available(
    service: ContainerService, user: User, project: str | None, xsi_type: str
) -> list[dict[str, Any]]:
    """Container Service's CommandSummaryForContext list: every wrapper whose contexts match
    `xsi_type` (subtypes included), with `enabled` = enabled on the site AND the project."""
    if project:
        require_project_read(user, project)
    summaries = []
    for ref in all_wrappers(service.store):
        if not xsi_type_matches(xsi_type, ref.contexts):
            continue
        if project and not ref.root_input_name:
            continue
        enabled = service.store.is_enabled(SITE, ref.wrapper_id) and (
            not project or service.store.is_enabled(project, ref.wrapper_id)
        )
        summaries.append(
            {
                "command-id": ref.command_id,
                "command-name": ref.command.get("name"),
                "command-label": ref.command.get("label"),
                "command-description": ref.command.get("description"),
                "wrapper-id": ref.wrapper_id,
                "wrapper-name": ref.name,
                "wrapper-label": ref.wrapper.get("label"),
                "wrapper-description": ref.wrapper.get("description"),
                "wrapper-contexts": ref.contexts,
                "image-name": ref.command.get("image"),
                "image-type": ref.command.get("type", "docker"),
                "enabled": enabled,
                "root-element-name": ref.root_input_name,
            }
        )
    return summaries


@router.get("/commands/available")
def available(
    xsiType: str,  # noqa: N803 (XNAT's query parameter name)
    user: CurrentUser,
    service: Service,
    project: str | None = None,
) -> list[dict[str, Any]]:
    return _available(service, user, project, xsiType)


@router.get("/projects/{project}/commands/available")
def available_in_project(
    project: str,
    xsiType: str,  # noqa: N803
    user: CurrentUser,
    service: Service,
) -> list[dict[str, Any]]:
    return _available(service, user, project, xsiType)


@router.get("/commands/{command_id}", response_model=None)
def read_command(
    command_id: int,
    user: CurrentUser,
    service: Service,
) -> dict[str, Any] | Response:
    command = service.store.command(command_id)
    if command is None:
        return PlainTextResponse(f"No command with id {command_id}.", status_code=404)
    return command


@router.post("/commands", response_model=None)
async def create_command(
    request: Request,
    user: CurrentUser,
    service: Service,
) -> Response:
    require_container_manager(user)
    body = await _command_body(request)
    if isinstance(body, Response):
        return body
    try:
        stored = service.store.add_command(body)
    except DuplicateCommandError as exc:
        return PlainTextResponse(f"Bad request:\n{exc}", status_code=400)
    return JSONResponse(stored["id"], status_code=201)


@router.post("/commands/{command_id}", response_model=None)
async def update_command(
    command_id: int,
    request: Request,
    user: CurrentUser,
    service: Service,
) -> Response:
    require_container_manager(user)
    if service.store.command(command_id) is None:
        return PlainTextResponse(f"No command with id {command_id}.", status_code=404)
    body = await _command_body(request)
    if isinstance(body, Response):
        return body
    service.store.replace_command(command_id, body)
    return Response(status_code=200)


@router.delete("/commands/{command_id}", response_model=None)
def delete_command(
    command_id: int,
    user: CurrentUser,
    service: Service,
) -> Response:
    require_container_manager(user)
    service.store.delete_command(command_id)
    return Response(status_code=204)


@router.get("/docker/images")
def docker_images(
    user: CurrentUser,
    service: Service,
) -> list[dict[str, Any]]:
    """No Docker engine here: the images are those the registered commands name."""
    images = sorted({str(c.get("image")) for c in service.store.commands()})
    return [{"image-id": image, "tags": [image], "size": None} for image in images]
