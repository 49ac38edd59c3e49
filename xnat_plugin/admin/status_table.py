"""`xnat-monai status`: a table of containers with their statuses, and log tails of failures."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from xnat_plugin.admin.watching import ContainerInfo, log_tail
from xnat_plugin.admin.wrappers import registered_wrappers
from xnat_plugin.admin.xapi import Xapi

STATUS_STYLES = {"Complete": "green", "Failed": "red", "Killed": "red"}


def _style(status: str) -> str:
    for prefix, style in STATUS_STYLES.items():
        if status.startswith(prefix):
            return style
    return "yellow"


def containers_table(xapi: Xapi, containers: list[ContainerInfo]) -> Table:
    names = {str(w.wrapper_id): w.name for w in registered_wrappers(xapi)}
    table = Table(title=f"Containers on {xapi.url}")
    for column in ("id", "project", "wrapper", "target", "status", "exit", "since"):
        table.add_column(column)
    for c in containers:
        table.add_row(
            c.id,
            c.project,
            names.get(c.wrapper_id, c.wrapper_id),
            c.target.removeprefix("/archive"),
            f"[{_style(c.status)}]{c.status}[/]",
            c.exit_code,
            c.status_time[:19],
        )
    return table


def print_status(
    xapi: Xapi,
    containers: list[ContainerInfo],
    console: Console,
    *,
    tail_lines: int = 10,
) -> None:
    """The table, then the last lines of stdout/stderr of every failed container."""
    console.print(containers_table(xapi, containers))
    for c in containers:
        if c.is_final and not c.succeeded:
            for which in ("stdout", "stderr"):
                tail = log_tail(xapi, c.id, which, tail_lines)
                if tail:
                    console.rule(f"container {c.id} ({c.status}) {which}, last lines")
                    console.print(tail, markup=False, highlight=False)
