"""Run one launch from start to end: resolve → stage → create → run → finalize.

`execute` is what the sandbox's container service calls for each launch (and what
`xnat-monai run` calls against any XNAT). Every status change goes through
`status.transition` and is reported to the `on_status` callback with the whole
`ContainerRecord`, so the caller can persist it; the record is also written as
`<workdir>/container.json`.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xnat_plugin.commands.model import Command
from xnat_plugin.errors import UserError
from xnat_plugin.runner.backends import Backend, LaunchEnvironment, RunningContainer, backend_named
from xnat_plugin.runner.finalize import upload_outputs
from xnat_plugin.runner.resolve import resolve_wrapper
from xnat_plugin.runner.resolved import ResolvedCommand
from xnat_plugin.runner.stage import ArchiveLocator, stage_mounts
from xnat_plugin.runner.status import ContainerStatus, StatusHistory, transition
from xnat_plugin.runner.xnat_rest import XnatRest

log = logging.getLogger(__name__)

NON_ZERO_EXIT = "Non-zero exit code and/or failure status from container"


@dataclass
class ContainerRecord:
    """One launched container, as XNAT's container history shows it."""

    id: str
    command: str
    wrapper: str
    target: str | None
    inputs: dict[str, str]
    workdir: Path
    history: StatusHistory = field(default_factory=StatusHistory)
    command_id: int = 0
    wrapper_id: int = 0
    project: str | None = None
    backend: str = "process"
    backend_id: str | None = None
    exit_code: int | None = None
    resolved: dict[str, Any] | None = None
    outputs_created: dict[str, str] = field(default_factory=dict)
    upload_failures: list[str] = field(default_factory=list)
    _running: RunningContainer | None = field(default=None, repr=False)
    _kill_requested: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def status(self) -> ContainerStatus:
        return self.history.current

    @property
    def stdout_path(self) -> Path:
        return self.workdir / "logs" / "stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / "logs" / "stderr.log"

    def request_kill(self) -> None:
        """Kill the container now if it runs, or stop the launch at its next step."""
        self._kill_requested.set()
        if self._running is not None:
            self._running.kill()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "command-id": self.command_id,
            "command-name": self.command,
            "wrapper-id": self.wrapper_id,
            "wrapper-name": self.wrapper,
            "target": self.target,
            "project": self.project,
            "status": str(self.status),
            "history": self.history.to_json(),
            "inputs": dict(self.inputs),
            "resolved": self.resolved,
            "backend": self.backend,
            "backend-id": self.backend_id,
            "exit-code": self.exit_code,
            "log-paths": {"stdout": str(self.stdout_path), "stderr": str(self.stderr_path)},
            "outputs-created": dict(self.outputs_created),
            "upload-failures": list(self.upload_failures),
        }


StatusCallback = Callable[[ContainerRecord], None]


def new_record(
    command: Command,
    wrapper_name: str,
    target_uri: str | None,
    user_inputs: Mapping[str, str] | None,
    workdir: Path,
    *,
    container_id: str | None = None,
    backend: str = "process",
) -> ContainerRecord:
    """A `_Queued` record (callers that queue launches create it before `execute`)."""
    record_id = container_id or uuid.uuid4().hex[:12]
    wrapper = command.wrapper(wrapper_name)
    return ContainerRecord(
        id=record_id,
        command=command.name,
        wrapper=wrapper_name,
        target=target_uri,
        inputs={k: str(v) for k, v in (user_inputs or {}).items()},
        workdir=workdir / record_id,
        command_id=command.id,
        wrapper_id=wrapper.id,
        backend=backend,
    )


class _Recorder:
    def __init__(self, record: ContainerRecord, on_status: StatusCallback | None) -> None:
        self.record = record
        self.on_status = on_status

    def __call__(self, status: ContainerStatus, message: str = "") -> bool:
        changed = transition(self.record.history, status, message)
        if changed:
            log.info(
                "container %s: %s%s", self.record.id, status, f" ({message})" if message else ""
            )
            self.save()
        return changed

    def save(self) -> None:
        self.record.workdir.mkdir(parents=True, exist_ok=True)
        (self.record.workdir / "container.json").write_text(
            json.dumps(self.record.to_json(), indent=2), encoding="utf-8"
        )
        if self.on_status is not None:
            self.on_status(self.record)


def execute(
    command: Command,
    wrapper_name: str,
    target_uri: str | None,
    user_inputs: Mapping[str, str] | None,
    *,
    xnat: XnatRest,
    launch: LaunchEnvironment,
    workdir: Path,
    backend: Backend | str = "process",
    project_config: Mapping[str, Any] | None = None,
    archive_locator: ArchiveLocator | None = None,
    on_status: StatusCallback | None = None,
    record: ContainerRecord | None = None,
    release_credentials: Callable[[], None] | None = None,
    root_input: str | None = None,
) -> ContainerRecord:
    """Run `wrapper_name` of `command` on `target_uri` to a final status; never raises for
    an expected failure (the record's status says what happened)."""
    runner = backend_named(backend) if isinstance(backend, str) else backend
    if record is None:
        record = new_record(
            command, wrapper_name, target_uri, user_inputs, workdir, backend=runner.name
        )
    record_status = _Recorder(record, on_status)
    record_status.save()
    try:
        resolved = _resolve(
            command,
            wrapper_name,
            target_uri,
            user_inputs,
            xnat,
            project_config,
            record,
            record_status,
            root_input,
        )
        if resolved is None:
            return record
        _stage_run_finalize(resolved, record, record_status, runner, xnat, launch, archive_locator)
    except Exception as exc:  # a bug must still leave a final status behind
        log.exception("container %s: unexpected error", record.id)
        if not record.status.is_final:
            _fail_at_current_stage(record_status, record, f"{type(exc).__name__}: {exc}")
    finally:
        record._running = None
        if release_credentials is not None:
            release_credentials()
    return record


def _resolve(
    command: Command,
    wrapper_name: str,
    target_uri: str | None,
    user_inputs: Mapping[str, str] | None,
    xnat: XnatRest,
    project_config: Mapping[str, Any] | None,
    record: ContainerRecord,
    record_status: _Recorder,
    root_input: str | None,
) -> ResolvedCommand | None:
    try:
        resolved = resolve_wrapper(
            command,
            wrapper_name,
            target_uri,
            user_inputs,
            xnat,
            project_config,
            root_input=root_input,
        )
    except UserError as exc:
        record_status(ContainerStatus.FAILED_RESOLUTION, str(exc))
        return None
    record.project = resolved.project
    record.resolved = resolved.to_json()
    return resolved


def _stage_run_finalize(
    resolved: ResolvedCommand,
    record: ContainerRecord,
    record_status: _Recorder,
    runner: Backend,
    xnat: XnatRest,
    launch: LaunchEnvironment,
    archive_locator: ArchiveLocator | None,
) -> None:
    if _killed_before_start(record, record_status):
        return
    record_status(ContainerStatus.STAGING)
    try:
        stage_mounts(
            resolved, record.workdir / "staging", xnat=xnat, archive_locator=archive_locator
        )
    except (UserError, OSError) as exc:
        record_status(ContainerStatus.FAILED_LAUNCH, f"staging mounts: {exc}")
        return
    record.resolved = resolved.to_json()
    if _killed_before_start(record, record_status):
        return
    record_status(ContainerStatus.CREATED)
    try:
        running = runner.start(resolved, launch, record.workdir / "logs")
    except (UserError, OSError) as exc:
        record_status(ContainerStatus.FAILED_LAUNCH, str(exc))
        return
    record._running = running
    record.backend_id = running.backend_id
    record_status(ContainerStatus.RUNNING)
    if record._kill_requested.is_set():
        running.kill()
    report = running.wait()
    record.exit_code = report.exit_code
    if report.killed:
        record_status(ContainerStatus.KILLED, "killed on request")
        return
    if report.out_of_memory:
        record_status(ContainerStatus.KILLED_OOM, f"exit code {report.exit_code}")
        return
    if report.exit_code != 0:
        record_status(ContainerStatus.FAILED, f"{NON_ZERO_EXIT} (exit code {report.exit_code})")
        return
    record_status(ContainerStatus.FINALIZING)
    uploads = upload_outputs(resolved, xnat)
    record.outputs_created = uploads.created
    record.upload_failures = uploads.failures
    if uploads.ok:
        record_status(ContainerStatus.COMPLETE)
    else:
        record_status(
            ContainerStatus.FAILED_UPLOAD,
            "Failed to upload required outputs.\n" + "\n".join(uploads.failures),
        )


def _killed_before_start(record: ContainerRecord, record_status: _Recorder) -> bool:
    if record._kill_requested.is_set():
        record_status(ContainerStatus.KILLED, "killed before it started")
        return True
    return False


def _fail_at_current_stage(record_status: _Recorder, record: ContainerRecord, message: str) -> None:
    failure = {
        ContainerStatus.QUEUED: ContainerStatus.FAILED_RESOLUTION,
        ContainerStatus.STAGING: ContainerStatus.FAILED_LAUNCH,
        ContainerStatus.CREATED: ContainerStatus.FAILED_LAUNCH,
        ContainerStatus.RUNNING: ContainerStatus.FAILED,
        ContainerStatus.FINALIZING: ContainerStatus.FAILED_UPLOAD,
    }[record.status]
    record_status(failure, message)
