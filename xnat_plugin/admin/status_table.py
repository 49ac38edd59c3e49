"""`xnat-monai status`: a table of launches (their containers, and the workflows that have none
yet, with XNAT's reason), and the log tails of failed containers."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from xnat_plugin.admin.watching import ContainerInfo, JobInfo, list_containers, log_tail
from xnat_plugin.admin.workflows import latest_workflows, workflows_on
from xnat_plugin.admin.wrappers import registered_wrappers
from xnat_plugin.admin.xapi import Xapi
from xnat_plugin.runner import status as cs


def _style(status: str) -> str:
    if cs.is_complete(status):
        return "green"
    return "red" if cs.is_terminal(status) else "yellow"


def _since(text: str) -> str:
    when = cs.parse_status_time(text)
    return when.strftime("%Y-%m-%d %H:%M:%S") if when else text[:19]


def jobs_table(title: str, jobs: list[JobInfo]) -> Table:
    table = Table(title=title)
    for column in ("container", "workflow", "wrapper", "target", "status", "exit", "since", "why"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        container = job.container
        table.add_row(
            container.id if container else "-",
            job.workflow_id or "-",
            job.wrapper,
            job.target.removeprefix("/archive"),
            f"[{_style(job.status)}]{job.status}[/]",
            container.exit_code if container else "",
            _since(container.status_time) if container else "",
            job.reason,
        )
    return table


def print_jobs(xapi: Xapi, jobs: list[JobInfo], console: Console, *, tail_lines: int = 10) -> None:
    """The table, then the last lines of stdout/stderr of every failed container."""
    console.print(jobs_table(f"Launches on {xapi.url}", jobs))
    for job in jobs:
        container = job.container
        if container is None or not job.is_final or job.succeeded:
            continue
        for which in ("stdout", "stderr"):
            tail = log_tail(xapi, container.id, which, tail_lines)
            if tail:
                console.rule(f"container {container.id} ({container.status}) {which}, last lines")
                console.print(tail, markup=False, highlight=False)


def _without_container(xapi: Xapi, project: str, wrapper: str) -> list[JobInfo]:
    """The project's launches of `wrapper` whose newest workflow never made a container: still
    being staged, or failed before (with XNAT's reason when the object is an experiment)."""
    jobs = []
    for latest in latest_workflows(xapi, wrapper, project):
        if latest.status not in cs.PRE_CONTAINER_STATUSES and not (
            latest.status.startswith(cs.FAILED) and latest.status not in cs.CONTAINER_FAILURES
        ):
            continue
        found = [w for w in workflows_on(xapi, wrapper, latest.item_id) if not w.container_id]
        workflow = max(found, key=lambda w: int(w.id)) if found else latest
        jobs.append(
            JobInfo(
                workflow_id=workflow.id,
                target=workflow.item_id,
                wrapper=wrapper,
                workflow_status=workflow.status,
                details=workflow.details,
            )
        )
    return jobs


def project_jobs(xapi: Xapi, project: str | None) -> list[JobInfo]:
    """Every container (of the project), then, with a project, the launches without one."""
    names = {str(w.wrapper_id): w.name for w in registered_wrappers(xapi)}
    containers: list[ContainerInfo] = list_containers(xapi, project)
    jobs = [JobInfo.of_container(c, names.get(c.wrapper_id, c.wrapper_id)) for c in containers]
    if project:
        for wrapper in sorted(set(names.values())):
            jobs.extend(_without_container(xapi, project, wrapper))
    return jobs
