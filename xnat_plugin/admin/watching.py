"""Following launches: their workflows (before a container exists) and their containers, a rich
progress display while waiting (plain lines when the output is not a terminal), and the tails of
their logs when one fails.

Statuses are read as XNAT writes them (`xnat_plugin.runner.status`): a launch is final when
its workflow (or container) status starts with Complete, Failed or Killed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from xnat_plugin.admin.launching import Launched
from xnat_plugin.admin.plain_progress import PlainProgress
from xnat_plugin.admin.workflows import WorkflowInfo, read_workflow
from xnat_plugin.admin.xapi import Xapi
from xnat_plugin.errors import UserError
from xnat_plugin.runner import status as cs

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5
# A workflow in these has no container yet: XNAT is resolving, pulling or creating.
WAITING_FOR_CONTAINER = (
    "no container yet: XNAT is resolving the command, pulling the image or creating the container"
)


@dataclass(frozen=True)
class ContainerInfo:
    """What the status table and the waiting loop need from one container."""

    id: str
    status: str
    project: str
    wrapper_id: str
    workflow_id: str
    target: str
    exit_code: str
    status_time: str
    message: str = ""

    @property
    def is_final(self) -> bool:
        return cs.is_terminal(self.status)

    @property
    def succeeded(self) -> bool:
        return cs.is_complete(self.status)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerInfo:
        history = data.get("history") or []
        # CS keeps the exit code on history items (`exitCode`), not on the container.
        codes = [h.get("exitCode") for h in history if h.get("exitCode") not in (None, "")]
        messages = [h.get("message") for h in history if h.get("message")]
        inputs = data.get("inputs") or []
        target = next(
            (str(i.get("value")) for i in inputs if i.get("type") == "wrapper-external"), ""
        )
        return cls(
            id=str(data.get("id")),
            status=str(data.get("status") or ""),
            project=str(data.get("project") or ""),
            wrapper_id=str(data.get("wrapper-id") or ""),
            workflow_id=str(data.get("workflow-id") or ""),
            target=target,
            exit_code=str(codes[-1]) if codes else "",
            status_time=str(data.get("status-time") or ""),
            message=str(messages[-1]) if messages else "",
        )


def list_containers(xapi: Xapi, project: str | None = None) -> list[ContainerInfo]:
    path = f"/xapi/projects/{project}/containers" if project else "/xapi/containers"
    rows = xapi.get_json(path, what="list containers")
    return [ContainerInfo.from_json(r) for r in rows]


def container_info(xapi: Xapi, container_id: str) -> ContainerInfo:
    data = xapi.get_json(f"/xapi/containers/{container_id}", what=f"read container {container_id}")
    return ContainerInfo.from_json(data)


def log_tail(xapi: Xapi, container_id: str, which: str = "stderr", lines: int = 20) -> str:
    response = xapi.request(
        "GET",
        f"/xapi/containers/{container_id}/logs/{which}",
        what=f"read the {which} of container {container_id}",
        ok=(200, 204, 403, 404),
    )
    if response.status_code != 200:
        return ""
    return "\n".join(response.text.splitlines()[-lines:])


@dataclass(frozen=True)
class JobInfo:
    """One launch as far as XNAT has taken it: its workflow and, once made, its container."""

    workflow_id: str
    target: str
    wrapper: str
    workflow_status: str
    details: str
    container: ContainerInfo | None = None

    @property
    def status(self) -> str:
        """The container's status once it exists (its workflow follows it), else the
        workflow's."""
        return self.container.status if self.container is not None else self.workflow_status

    @property
    def is_final(self) -> bool:
        return cs.is_terminal(self.status)

    @property
    def succeeded(self) -> bool:
        return cs.is_complete(self.status)

    @property
    def reason(self) -> str:
        """Why the launch is where it is, in XNAT's words."""
        if self.container is not None:
            return self.container.message if not self.succeeded else ""
        if self.is_final:
            return self.details
        return WAITING_FOR_CONTAINER

    @classmethod
    def of(
        cls, launched: Launched, workflow: WorkflowInfo, container: ContainerInfo | None
    ) -> JobInfo:
        return cls(
            workflow_id=launched.workflow_id,
            target=launched.target,
            wrapper=launched.wrapper or workflow.pipeline,
            workflow_status=workflow.status,
            details=workflow.details,
            container=container,
        )

    @classmethod
    def of_container(cls, container: ContainerInfo, wrapper: str = "") -> JobInfo:
        return cls(
            workflow_id=container.workflow_id,
            target=container.target,
            wrapper=wrapper,
            workflow_status=container.status,
            details=container.message,
            container=container,
        )


def job_info(xapi: Xapi, launched: Launched, containers: dict[str, ContainerInfo]) -> JobInfo:
    """The launch's workflow, and its container when `containers` (by workflow id) has it or
    the workflow names it."""
    workflow = read_workflow(xapi, launched.workflow_id)
    container = containers.get(launched.workflow_id)
    if container is None and workflow.container_id:
        container = container_info(xapi, workflow.container_id)
    return JobInfo.of(launched, workflow, container)


def _displays(
    console: Console | None, show: bool, total: int
) -> tuple[Progress, PlainProgress | None]:
    """A progress bar on a terminal; elsewhere (CI logs, `| tee`, a file) no bar but plain
    lines: one per finished launch, one per new training epoch every few seconds."""
    console = console or Console(stderr=True)
    plain = PlainProgress(total) if show and not console.is_terminal else None
    bar = Progress(
        TextColumn("[bold]launches"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[statuses]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last_line]}", style="dim"),
        console=console,
        disable=not show or plain is not None,
        transient=True,
    )
    return bar, plain


def _running_line(
    xapi: Xapi, container_id: str | None, follow_log: bool, plain: PlainProgress | None
) -> str:
    """The newest log line of a running container when the bar shows it (`follow_log`) or the
    plain lines may print an epoch now; handed on to the plain lines."""
    if container_id is None or not (follow_log or (plain is not None and plain.due())):
        return ""
    line = _last_log_line(xapi, container_id)
    if plain is not None and line:
        plain.log_line(line)
    return line


def wait_for_launches(
    xapi: Xapi,
    launches: Iterable[Launched],
    timeout: float = 3600.0,
    *,
    project: str | None = None,
    console: Console | None = None,
    show_progress: bool = True,
    follow_log: bool = False,
) -> list[JobInfo]:
    """Poll every launch until its workflow (or its container) is final: a launch whose
    command cannot be resolved ends within a poll with the workflow's reason; one whose image
    is still being pulled shows as queued with no container. Each round reads the project's
    containers once and only the workflows of launches that have none yet. UserError when
    `timeout` seconds pass first."""
    launches = list(launches)
    for item in launches:
        if not item.has_workflow:
            raise UserError(f"launch on {item.target} has no workflow id yet ({item.workflow_id})")
    pending = {item.workflow_id: item for item in launches}
    done: dict[str, JobInfo] = {}
    deadline = time.monotonic() + timeout
    progress, plain = _displays(console, show_progress, len(pending))
    with progress:
        task = progress.add_task("wait", total=len(pending), statuses="", last_line="")
        while pending:
            containers = {c.workflow_id: c for c in list_containers(xapi, project)}
            states: dict[str, str] = {}
            for workflow_id, item in list(pending.items()):
                container = containers.get(workflow_id)
                if container is not None and container.is_final:
                    info = JobInfo(
                        workflow_id,
                        item.target,
                        item.wrapper,
                        container.status,
                        container.message,
                        container,
                    )
                else:
                    info = job_info(xapi, item, containers)
                states[workflow_id] = info.status
                if info.is_final:
                    done[workflow_id] = info
                    del pending[workflow_id]
                    if plain is not None:
                        plain.container_finished(
                            info.container.id if info.container else f"workflow {workflow_id}",
                            info.status,
                            " ".join(part for part in (info.wrapper, info.target) if part),
                        )
            counts: dict[str, int] = {}
            for state in states.values():
                counts[state] = counts.get(state, 0) + 1
            running = [c.id for c in containers.values() if c.status == cs.RUNNING]
            last_line = _running_line(xapi, running[0] if running else None, follow_log, plain)
            progress.update(
                task,
                completed=len(done),
                statuses=" ".join(f"{s}:{n}" for s, n in sorted(counts.items())),
                last_line=last_line,
            )
            if not pending:
                break
            if time.monotonic() > deadline:
                raise UserError(
                    f"{len(pending)} launch(es) not finished after {timeout:.0f} s "
                    f"(workflows {', '.join(list(pending)[:10])}): check `xnat-monai status`"
                )
            time.sleep(POLL_INTERVAL_S)
    return [done[item.workflow_id] for item in launches]


def wait_for(
    xapi: Xapi,
    container_ids: list[str],
    timeout: float = 3600.0,
    *,
    console: Console | None = None,
    show_progress: bool = True,
    follow_log: bool = False,
) -> list[ContainerInfo]:
    """Poll containers that already exist (e.g. found in the history table) until each has a
    final status. Raises UserError when `timeout` seconds pass first."""
    pending = list(dict.fromkeys(container_ids))
    done: dict[str, ContainerInfo] = {}
    deadline = time.monotonic() + timeout
    progress, plain = _displays(console, show_progress, len(pending))
    with progress:
        task = progress.add_task("wait", total=len(pending), statuses="", last_line="")
        while pending:
            states = {}
            for cid in list(pending):
                info = container_info(xapi, cid)
                states[cid] = info.status
                if info.is_final:
                    done[cid] = info
                    pending.remove(cid)
                    if plain is not None:
                        plain.container_finished(cid, info.status, info.target)
            running = [cid for cid, status in states.items() if status == cs.RUNNING]
            last_line = _running_line(xapi, running[0] if running else None, follow_log, plain)
            progress.update(task, completed=len(done), statuses="", last_line=last_line)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise UserError(
                    f"{len(pending)} container(s) still running after {timeout:.0f} s "
                    f"(ids {', '.join(pending[:10])}): check `xnat-monai status`"
                )
            time.sleep(POLL_INTERVAL_S)
    return [done[cid] for cid in dict.fromkeys(container_ids)]


def _last_log_line(xapi: Xapi, container_id: str, width: int = 90) -> str:
    """The newest non-empty stderr line of a container, without its time and logger name."""
    lines = [line for line in log_tail(xapi, container_id, "stderr", lines=5).splitlines() if line]
    if not lines:
        return ""
    text = lines[-1].split(": ", 1)[-1]
    return text if len(text) <= width else text[: width - 1] + "…"
