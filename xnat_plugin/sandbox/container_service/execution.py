"""Running a queued launch with the runner, on a worker thread, as the launching user, and
recording what Container Service records at each step.

`ContainerServiceImpl.consumeResolveCommandAndLaunchContainer` takes the launch: workflow
`Staging` ("Command resolution"), the wrapper looked up, the command resolved (workflow
`Queued` again), the container created (`containerControlApi.create`, then the row is saved
with a `Created` history item by the launching user), started. A failure before the
container exists goes on the workflow only. From `Created` on, every container history item
also sets the workflow's status (`ContainerUtils.updateWorkflowStatus`), and the exit is
recorded as Docker's events and CS's finalizing reach it: `die` (with the exit code),
`_<status>` (queued for finalizing), `Finalizing`, then `Complete`, `Failed (Upload)` or
`Failed` (`ContainerFinalizeServiceImpl`).

Each run gets an alias token of the launching user (XNAT_USER/XNAT_PASS inside, and the
identity of the runner's REST calls), revoked as soon as the launch ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xnat_plugin.commands.model import Command, parse_command
from xnat_plugin.errors import UserError
from xnat_plugin.runner import status as cs
from xnat_plugin.runner.backends import LaunchEnvironment
from xnat_plugin.runner.engine import ContainerRecord, execute, new_record
from xnat_plugin.runner.resolve import preresolve
from xnat_plugin.runner.status import ContainerStatus
from xnat_plugin.runner.xnat_rest import XnatRest
from xnat_plugin.sandbox.archive import archive_directory, data_segments
from xnat_plugin.sandbox.auth import issue_alias_token, revoke_alias_token
from xnat_plugin.sandbox.container_service import uploads as cs_uploads
from xnat_plugin.sandbox.container_service.catalog import WrapperNotFound, WrapperRef
from xnat_plugin.sandbox.container_service.launcher import LaunchTarget
from xnat_plugin.sandbox.container_service.orphans import process_start_time
from xnat_plugin.sandbox.container_service.records import ContainerRow, WorkflowRow

if TYPE_CHECKING:
    from xnat_plugin.sandbox.container_service.service import ContainerService

log = logging.getLogger(__name__)

# `handleFailure(workflow, e, "")` names the exception class when no suffix is given.
NOT_FOUND_FAILURE = cs.failure_status("org.nrg.framework.exceptions.NotFoundException")
# The sandbox's one archive directory per project (XNAT's default `arc001`).
CURRENT_ARC = "arc001"
STOPPED_MESSAGE = "The sandbox stopped before the container was created."


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


def _input_kind(command: Command, wrapper_name: str, name: str) -> str:
    """Container Service's input types in a container record."""
    wrapper = command.wrapper(wrapper_name)
    if any(i.name == name for i in wrapper.external_inputs):
        return "wrapper-external"
    if any(i.name == name for i in wrapper.derived_inputs):
        return "wrapper-derived"
    return "command"


def _docker_exit_code(code: int | None) -> int | None:
    """A process killed by signal N exits as 128+N in Docker's `die` event."""
    return 128 - code if code is not None and code < 0 else code


class LaunchTracker:
    """Turns the runner's status changes into the workflow and container records of CS."""

    def __init__(
        self, service: ContainerService, workflow: WorkflowRow, ref: WrapperRef, command: Command
    ) -> None:
        self.service = service
        self.workflow = workflow
        self.ref = ref
        self.command = command
        self.container: ContainerRow | None = None
        self.seen: set[ContainerStatus] = set()

    # ---- persistence ---------------------------------------------------------------------

    def _save_workflow(self) -> None:
        self.service.store.save_workflow(self.workflow)

    def _container_history(
        self, status: str, *, fields: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """One container history item (and `fields` set on the row); the workflow takes the
        container's status. Read afresh under the lock: a kill adds its own item meanwhile."""
        assert self.container is not None
        with self.service.running_lock:
            row = self.service.store.container(self.container.id) or self.container
            for name, value in (fields or {}).items():
                setattr(row, name, value)
            row.add_history(status, **kwargs)
            self.service.store.save_container(row)
            self.container = row
            self.workflow.set_status(row.status, kwargs.get("message") or "")
            self._save_workflow()

    # ---- the runner's statuses -----------------------------------------------------------

    def __call__(self, record: ContainerRecord) -> None:
        status = record.status
        if status in self.seen:
            return
        self.seen.add(status)
        message = record.history.events[-1].message
        handler = getattr(self, f"_on_{status.name.lower()}", None)
        if handler is not None:
            handler(record, message)

    def _on_staging(self, record: ContainerRecord, message: str) -> None:
        # `updateWorkflowWithResolvedCommand`: resolved, back to Queued until created.
        self.workflow.set_status(cs.WORKFLOW_QUEUED)
        self._save_workflow()

    def _on_failed_resolution(self, record: ContainerRecord, message: str) -> None:
        self.workflow.set_status(
            cs.FAILED_COMMAND_RESOLUTION, cs.RESOLUTION_DETAILS_PREFIX + message
        )
        self._save_workflow()

    def _on_failed_launch(self, record: ContainerRecord, message: str) -> None:
        if self.container is None:
            self.workflow.set_status(cs.FAILED_CONTAINER_LAUNCH, message)
            self._save_workflow()
            return
        # `start` failed: the container records it, the workflow gets the launch failure.
        self._container_history(cs.FAILED, message="Did not start." + message)
        self.workflow.set_status(cs.FAILED_CONTAINER_LAUNCH, "Failed to start")
        self._save_workflow()

    def _on_created(self, record: ContainerRecord, message: str) -> None:
        resolved = record.resolved or {}
        row = self.service.store.add_container(
            command_id=self.ref.command_id,
            wrapper_id=self.ref.wrapper_id,
            project=self.workflow.external_id,
            user=self.workflow.create_user,
            workflow_id=str(self.workflow.id),
            docker_image=str(self.ref.command.get("image", "")),
            command_line=str(resolved.get("command-line") or ""),
            log_dir=str(record.stdout_path.parent),
            inputs=self._inputs(resolved),
            outputs=list(resolved.get("outputs") or []),
            env=self._environment(resolved),
            alias=self.workflow.alias,
        )
        self.container = row
        self.workflow.container_row = row.id
        self.workflow.comments = row.container_id  # `updateWorkflowWithContainer`
        self._container_history(cs.CREATED, entity_type="user", entity_id=self.workflow.create_user)

    def _on_running(self, record: ContainerRecord, message: str) -> None:
        pid = _process_id(record.backend_id)
        fields: dict[str, Any] = {}
        if pid is not None:
            # The job leads its own process group; crash recovery ends what is left of it.
            fields = {"process_group": pid, "process_start": process_start_time(pid)}
        self._container_history(cs.DOCKER_START, entity_type="event", fields=fields)

    def _exit(self, record: ContainerRecord) -> None:
        """Docker's `die`, then CS queues and starts finalizing."""
        assert self.container is not None
        self._container_history(
            cs.DOCKER_DIE, entity_type="event", exit_code=_docker_exit_code(record.exit_code)
        )
        self._container_history(
            cs.IN_QUEUE_PREFIX + self.container.status, message=cs.QUEUED_FOR_FINALIZING
        )
        self._container_history(cs.FINALIZING, message=cs.FINALIZING_MESSAGE)

    def _on_finalizing(self, record: ContainerRecord, message: str) -> None:
        self._exit(record)

    def _on_complete(self, record: ContainerRecord, message: str) -> None:
        self._container_history(
            cs.COMPLETE, message=self.workflow.details, fields=self._outputs(record)
        )

    def _on_failed_upload(self, record: ContainerRecord, message: str) -> None:
        self._container_history(cs.FAILED_UPLOAD, message=message, fields=self._outputs(record))

    def _failed_after_exit(self, record: ContainerRecord) -> None:
        self._exit(record)
        self._container_history(
            cs.FAILED,
            message=cs.NON_ZERO_EXIT,
            exit_code=_docker_exit_code(record.exit_code),
        )

    def _on_failed(self, record: ContainerRecord, message: str) -> None:
        if ContainerStatus.FINALIZING in self.seen:  # the runner failed while finalizing
            self._container_history(cs.FAILED, message=message)
            return
        self._failed_after_exit(record)

    def _on_killed_oom(self, record: ContainerRecord, message: str) -> None:
        self._container_history(cs.DOCKER_OOM, entity_type="event")
        self._failed_after_exit(record)

    def _on_killed(self, record: ContainerRecord, message: str) -> None:
        if self.container is None:  # only the server's stop kills a launch this early
            self.workflow.set_status(cs.FAILED_STAGING, STOPPED_MESSAGE)
            self._save_workflow()
            return
        self._failed_after_exit(record)

    # ---- what the container record shows -------------------------------------------------

    @staticmethod
    def _outputs(record: ContainerRecord) -> dict[str, Any]:
        return {
            "outputs": [
                {**output, "created": record.outputs_created.get(output.get("name", ""))}
                for output in (record.resolved or {}).get("outputs") or []
            ]
        }

    def _inputs(self, resolved: dict[str, Any]) -> list[dict[str, Any]]:
        # The runner has already masked the values of sensitive inputs.
        return [
            {
                "type": _input_kind(self.command, self.ref.name, name),
                "name": name,
                "value": value,
            }
            for name, value in (resolved.get("inputs") or {}).items()
        ]

    def _environment(self, resolved: dict[str, Any]) -> dict[str, str]:
        env = {str(k): str(v) for k, v in (resolved.get("environment-variables") or {}).items()}
        env.update(
            {
                "XNAT_HOST": self.service.base_url or "",
                "XNAT_USER": self.workflow.alias or "",
                "XNAT_PASS": "******",  # ContainerRestApi.scrubPasswordEnv
                "XNAT_WORKFLOW_ID": str(self.workflow.id),
                "XNAT_EVENT_ID": str(self.workflow.id),
            }
        )
        return env


def _process_id(backend_id: str | None) -> int | None:
    if backend_id and backend_id.startswith("process-") and backend_id[8:].isdigit():
        return int(backend_id[8:])
    return None


def _take(service: ContainerService, workflow_id: int) -> WorkflowRow | None:
    """The queued workflow, moved to `Staging`; None when it is not queued (any more)."""
    with service.running_lock:
        workflow = service.store.workflow(workflow_id)
        if workflow is None or workflow.status != cs.WORKFLOW_IN_STAGING_QUEUE:
            return None
        workflow.set_status(cs.WORKFLOW_STAGING, cs.STAGING_DETAILS)
        service.store.save_workflow(workflow)
        return workflow


def run_workflow(service: ContainerService, workflow_id: int) -> None:
    """Run one queued launch to a final status (called on a worker thread)."""
    workflow = _take(service, workflow_id)
    if workflow is None:
        return
    target = LaunchTarget(
        project=workflow.project or None,
        command_id=workflow.command_id or None,
        wrapper_name=workflow.wrapper_name or None,
        wrapper_id=workflow.wrapper_id or None,
    )
    try:
        ref = service.launcher.wrapper(target)
    except WrapperNotFound:
        detail = (
            f"No command wrapper for id {workflow.wrapper_id}"
            if workflow.wrapper_id
            else f"No command wrapper for command id {workflow.command_id}, wrapper name "
            f"{workflow.wrapper_name}"
        )
        workflow.set_status(NOT_FOUND_FAILURE, detail)
        service.store.save_workflow(workflow)
        return
    command = parse_command(ref.command)
    user_inputs = {k: v for k, v in workflow.params.items() if k != workflow.root_input}
    record = new_record(
        command,
        ref.name,
        workflow.params.get(workflow.root_input),
        user_inputs,
        service.state_dir / "workflows",
        container_id=f"{workflow.id:06d}",
    )
    record.project = workflow.project or None
    alias, secret = issue_alias_token(workflow.create_user)
    workflow.alias = alias
    # The service's own calls (resolution, finalizing) use a token of their own, never given to
    # the container: its uploads are Container Service's (`uploads`), the container's a client's.
    service_alias, service_secret = issue_alias_token(workflow.create_user)
    workflow.service_alias = service_alias
    service.store.save_workflow(workflow)
    tracker = LaunchTracker(service, workflow, ref, command)
    with service.running_lock:
        service.running[workflow.id] = record
    base_url = service.base_url or "http://127.0.0.1"
    cs_uploads.register(service_alias)
    xnat = XnatRest(base_url, service_alias, service_secret)

    def release() -> None:
        revoke_alias_token(alias)
        cs_uploads.unregister(service_alias)
        revoke_alias_token(service_alias)
        xnat.close()

    try:
        execute(
            command,
            ref.name,
            workflow.params.get(workflow.root_input),
            user_inputs,
            xnat=xnat,
            launch=LaunchEnvironment(
                xnat_host=base_url,
                xnat_user=alias,
                xnat_pass=secret,
                workflow_id=str(workflow.id),
                event_id=str(workflow.id),
            ),
            workdir=service.state_dir / "workflows",
            project_config=(
                service.store.config(workflow.project, ref.wrapper_id) if workflow.project else None
            ),
            archive_locator=_archive_locator(service.data_dir),
            on_status=tracker,
            record=record,
            release_credentials=release,
            root_input=workflow.root_input,
        )
    finally:
        with service.running_lock:
            service.running.pop(workflow.id, None)
    log.info("workflow %d (%s): %s", workflow.id, ref.name, tracker.workflow.status)


def kill_container(service: ContainerService, row: ContainerRow, login: str) -> None:
    """`ContainerServiceImpl.kill`: a `kill` history item by the user, then the backend's
    kill (the exit is recorded when the process is gone)."""
    with service.running_lock:
        fresh = service.store.container(row.id) or row
        fresh.add_history(cs.KILL_STATUS, entity_type="user", entity_id=login)
        service.store.save_container(fresh)
        workflow = service.store.workflow(int(fresh.workflow_id))
        if workflow is not None:
            workflow.set_status(fresh.status, "")
            service.store.save_workflow(workflow)
        record = service.running.get(int(fresh.workflow_id))
    if record is not None:
        record.request_kill()


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
