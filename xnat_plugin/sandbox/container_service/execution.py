"""Running a queued container with the runner, on a worker thread, as the launching user.

Each run gets an alias token of the launching user (XNAT_USER/XNAT_PASS inside, and the
identity of the runner's own REST calls), revoked as soon as the container is finalized.
Every status the runner reports is written to the container's row at once, so
`GET /xapi/containers/{id}` follows the job live.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xnat_plugin.commands.model import Command, parse_command
from xnat_plugin.errors import UserError
from xnat_plugin.runner.backends import LaunchEnvironment
from xnat_plugin.runner.engine import ContainerRecord, execute, new_record
from xnat_plugin.runner.resolve import preresolve
from xnat_plugin.runner.status import ContainerStatus
from xnat_plugin.runner.xnat_rest import XnatRest
from xnat_plugin.sandbox.archive import archive_directory, data_segments
from xnat_plugin.sandbox.auth import issue_alias_token, revoke_alias_token
from xnat_plugin.sandbox.container_service.catalog import WrapperRef
from xnat_plugin.sandbox.container_service.store import ContainerRow, now_iso

if TYPE_CHECKING:
    from xnat_plugin.sandbox.container_service.service import ContainerService

log = logging.getLogger(__name__)

QUEUED = str(ContainerStatus.QUEUED)
# The sandbox's one archive directory per project (XNAT's default `arc001`).
CURRENT_ARC = "arc001"


def _archive_locator(data_dir: Path) -> Callable[[str], Path | None]:
    """Input mounts bind the sandbox's own archive folders, as XNAT mounts its archive."""

    def locate(uri: str) -> Path | None:
        try:
            folder = archive_directory(data_dir, uri)
        except UserError:
            return None
        segments = data_segments(uri)
        if len(segments) == 2 and segments[0] == "projects":
            # A project mounts as its current archive directory, the session folders: CS's
            # `Project.populateProperties` sets getRootArchivePath() + getCurrentArc().
            return folder / CURRENT_ARC
        return folder

    return locate


def _history_entry(event: dict[str, str], exit_code: int | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "status": event["status"],
        "entity-type": "system",
        "time-recorded": event["time"],
        "external-timestamp": event["time"],
        "message": event.get("message", ""),
    }
    if exit_code is not None and event["status"] not in (QUEUED, "Staging", "Created", "Running"):
        entry["exitCode"] = exit_code
    return entry


def _input_kind(command: Command, wrapper_name: str, name: str) -> str:
    """Container Service's input types in a container record."""
    wrapper = command.wrapper(wrapper_name)
    if any(i.name == name for i in wrapper.external_inputs):
        return "wrapper-external"
    if any(i.name == name for i in wrapper.derived_inputs):
        return "wrapper-derived"
    return "command"


def _copy_record(row: ContainerRow, record: ContainerRecord, command: Command) -> None:
    """The runner's record → the row `GET /xapi/containers/{id}` shows."""
    history = record.history.to_json()
    row.status = str(record.status)
    row.status_time = history[-1]["time"] if history else now_iso()
    row.history = [_history_entry(h, record.exit_code) for h in history]
    row.exit_code = record.exit_code
    row.log_dir = str(record.stdout_path.parent)
    resolved = record.resolved or {}
    row.command_line = str(resolved.get("command-line") or "")
    row.outputs = [
        {**output, "created": record.outputs_created.get(output.get("name", ""))}
        for output in resolved.get("outputs") or []
    ]
    inputs = resolved.get("inputs")
    if inputs:
        # The runner has already masked the values of sensitive inputs.
        row.inputs = [
            {"type": _input_kind(command, row.wrapper_name, name), "name": name, "value": value}
            for name, value in inputs.items()
        ]


def _stored_command(service: ContainerService, row: ContainerRow) -> Command:
    data = service.store.command(row.command_id)
    if data is None:
        raise UserError(f"command {row.command_id} was deleted after the launch")
    return parse_command(data)


def _fail_queued(service: ContainerService, row: ContainerRow, message: str) -> None:
    row.status = str(ContainerStatus.FAILED_RESOLUTION)
    row.status_time = now_iso()
    row.history.append({"status": row.status, "time-recorded": row.status_time, "message": message})
    service.store.save_container(row)


def run_container(service: ContainerService, container_id: int) -> None:
    """Run one queued container to a final status (called on a worker thread)."""
    with service.running_lock:
        row = service.store.container(container_id)
        if row is None or row.status != QUEUED:
            return  # killed while queued, or already run before a restart
        try:
            command = _stored_command(service, row)
        except UserError as exc:
            _fail_queued(service, row, str(exc))
            return
        user_inputs = {k: v for k, v in row.params.items() if k != row.root_input}
        record = new_record(
            command,
            row.wrapper_name,
            row.root_uri,
            user_inputs,
            service.state_dir / "containers",
            container_id=f"{row.id:06d}",
        )
        record.project = row.project or None
        service.running[row.id] = record

    base_url = service.base_url or "http://127.0.0.1"
    alias, secret = issue_alias_token(row.user)
    xnat = XnatRest(base_url, alias, secret)
    launch = LaunchEnvironment(
        xnat_host=base_url,
        xnat_user=alias,
        xnat_pass=secret,
        workflow_id=row.workflow_id,
        event_id=str(row.subscription_id or ""),
    )

    def save(updated: ContainerRecord) -> None:
        _copy_record(row, updated, command)
        service.store.save_container(row)

    def release() -> None:
        revoke_alias_token(alias)
        xnat.close()

    try:
        execute(
            command,
            row.wrapper_name,
            row.root_uri,
            user_inputs,
            xnat=xnat,
            launch=launch,
            workdir=service.state_dir / "containers",
            project_config=service.store.config(row.project, row.wrapper_id)
            if row.project
            else None,
            archive_locator=_archive_locator(service.data_dir),
            on_status=save,
            record=record,
            release_credentials=release,
        )
    finally:
        with service.running_lock:
            service.running.pop(row.id, None)
    log.info("container %d (%s on %s): %s", row.id, row.wrapper_name, row.root_uri, row.status)


def kill_container(service: ContainerService, container_id: int) -> None:
    """Kill a running container, or end a queued one before it starts."""
    with service.running_lock:
        record: ContainerRecord | None = service.running.get(container_id)
        if record is not None:
            record.request_kill()
            return
        row = service.store.container(container_id)
        if row is None or row.status != QUEUED:
            return
        row.status = str(ContainerStatus.KILLED)
        row.status_time = now_iso()
        row.history.append(
            {"status": row.status, "time-recorded": row.status_time, "message": "killed"}
        )
        service.store.save_container(row)


def preresolve_for_ui(
    service: ContainerService, ref: WrapperRef, project: str | None, root_value: str, user: str
) -> dict[str, Any]:
    """What the launch UI shows: each input's possible values for this target, read as the
    asking user. Raises UserError (resolution refused) with XNAT's message."""
    command = parse_command(ref.command)
    alias, secret = issue_alias_token(user)
    xnat = XnatRest(service.base_url or "http://127.0.0.1", alias, secret)
    try:
        report = preresolve(
            command,
            ref.name,
            root_value,
            xnat,
            project_config=service.store.config(project, ref.wrapper_id) if project else None,
        )
    finally:
        revoke_alias_token(alias)
        xnat.close()
    return {
        "command-id": ref.command_id,
        "command-name": command.name,
        "wrapper-id": ref.wrapper_id,
        "wrapper-name": ref.name,
        "wrapper-label": ref.wrapper.get("label"),
        "root-element-name": ref.root_input_name,
        "input-config": report["inputs"],
    }
