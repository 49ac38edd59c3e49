"""Following containers: their statuses from `/xapi/containers`, a rich progress display while
waiting, and the tails of their logs when one fails.
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
from xnat_plugin.admin.xapi import Xapi
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

FINAL_PREFIXES = ("Complete", "Failed", "Killed", "Done")
POLL_INTERVAL_S = 0.5


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

    @property
    def is_final(self) -> bool:
        return self.status.startswith(FINAL_PREFIXES)

    @property
    def succeeded(self) -> bool:
        return self.status == "Complete"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerInfo:
        history = data.get("history") or []
        exit_code = data.get("exit-code")
        if exit_code is None:
            codes = [h.get("exitCode") for h in history if h.get("exitCode") is not None]
            exit_code = codes[-1] if codes else ""
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
            exit_code=str(exit_code),
            status_time=str(data.get("status-time") or ""),
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
        ok=(200, 204, 404),
    )
    if response.status_code != 200:
        return ""
    return "\n".join(response.text.splitlines()[-lines:])


def container_ids_for(xapi: Xapi, launched: Iterable[Launched], timeout: float = 60.0) -> list[str]:
    """The container id of each launch: from the launch report, else found by workflow id
    (a real XNAT creates the container record only once the queued launch is resolved)."""
    launched = list(launched)
    ids: dict[int, str] = {
        i: item.container_id for i, item in enumerate(launched) if item.container_id
    }
    deadline = time.monotonic() + timeout
    while len(ids) < len(launched):
        by_workflow = {c.workflow_id: c.id for c in list_containers(xapi)}
        for i, item in enumerate(launched):
            if i not in ids and item.workflow_id in by_workflow:
                ids[i] = by_workflow[item.workflow_id]
        if len(ids) < len(launched):
            if time.monotonic() > deadline:
                raise UserError(
                    f"{len(launched) - len(ids)} launch(es) got no container within "
                    f"{timeout:.0f} s: check `xnat-monai status --xnat {xapi.url}`"
                )
            time.sleep(POLL_INTERVAL_S)
    return [ids[i] for i in range(len(launched))]


def wait_for(
    xapi: Xapi,
    container_ids: list[str],
    timeout: float = 3600.0,
    *,
    console: Console | None = None,
    show_progress: bool = True,
    follow_log: bool = False,
) -> list[ContainerInfo]:
    """Poll until every container has a final status; a progress bar shows how many are done
    (and, with `follow_log`, the last log line of a running one, e.g. a training epoch).
    Raises UserError when `timeout` seconds pass first."""
    pending = list(dict.fromkeys(container_ids))
    done: dict[str, ContainerInfo] = {}
    deadline = time.monotonic() + timeout
    progress = Progress(
        TextColumn("[bold]containers"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[statuses]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last_line]}", style="dim"),
        console=console or Console(stderr=True),
        disable=not show_progress,
        transient=True,
    )
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
            counts: dict[str, int] = {}
            for status in states.values():
                counts[status] = counts.get(status, 0) + 1
            running = [cid for cid, status in states.items() if status == "Running"]
            last_line = _last_log_line(xapi, running[0]) if follow_log and running else ""
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
