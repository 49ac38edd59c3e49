"""Reading the workflows of launches from any XNAT 1.9, through the paths its core serves.

A launch is a workflow first (`/data/workflows/{id}`); the container exists only once XNAT
has resolved the command, pulled the image and created it, and its id then shows as the
workflow's `comments`. A bulk launch answers "To be assigned" for every target: the
workflows are found afterwards among the target's workflows of the wrapper
(`/data/services/workflows/{wrapper}?experiment=ID&display=ALL`), by the bulk launch id CS
stores as their `jobID`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from xnat_plugin.admin.xapi import Xapi
from xnat_plugin.errors import UserError
from xnat_plugin.runner import status as cs

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5


@dataclass(frozen=True)
class WorkflowInfo:
    """What one workflow says about its launch."""

    id: str
    pipeline: str
    item_id: str
    project: str
    status: str
    details: str
    container_id: str
    job_id: str
    launch_time: str

    @property
    def is_final(self) -> bool:
        return cs.is_terminal(self.status)

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> WorkflowInfo:
        def get(*names: str) -> str:
            for name in names:
                if fields.get(name) not in (None, ""):
                    return str(fields[name])
            return ""

        return cls(
            id=get("wrk_workflowData_id", "wrk_workflowdata_id"),
            pipeline=get("pipeline_name"),
            item_id=get("ID", "id"),
            project=get("ExternalID", "externalid"),
            status=get("status"),
            details=get("details"),
            container_id=get("comments"),
            job_id=get("jobID", "jobid"),
            launch_time=get("launch_time"),
        )


def read_workflow(xapi: Xapi, workflow_id: str) -> WorkflowInfo:
    data = xapi.get_json(
        f"/data/workflows/{quote(workflow_id)}",
        what=f"read workflow {workflow_id}",
        params={"format": "json"},
    )
    items = data.get("items") or [] if isinstance(data, dict) else []
    if not items:
        raise UserError(f"XNAT at {xapi.url} answered no workflow {workflow_id}")
    return WorkflowInfo.from_fields(items[0].get("data_fields") or {})


def workflows_on(xapi: Xapi, pipeline: str, experiment_id: str) -> list[WorkflowInfo]:
    """Every workflow of `pipeline` (a wrapper name) on one experiment (session or assessor)."""
    response = xapi.request(
        "GET",
        f"/data/services/workflows/{quote(pipeline)}",
        what=f"list the workflows of {pipeline} on {experiment_id}",
        ok=(200, 404),
        params={"experiment": experiment_id, "display": "ALL", "format": "json"},
    )
    if response.status_code == 404:
        return []
    rows = (response.json().get("ResultSet") or {}).get("Result") or []
    found = [WorkflowInfo.from_fields(row) for row in rows]
    # XNAT matches the pipeline name as a substring: keep this wrapper's own.
    return [w for w in found if w.pipeline == pipeline and w.item_id == experiment_id]


def latest_workflows(xapi: Xapi, pipeline: str, project: str) -> list[WorkflowInfo]:
    """The newest workflow of `pipeline` on each object of `project` (no ids, no details)."""
    listing = xapi.get_json(
        f"/data/services/workflows/{quote(pipeline)}",
        what=f"list the workflows of {pipeline} in {project}",
        params={"project": project, "format": "json"},
    )
    rows = (listing.get("ResultSet") or {}).get("Result") or []
    return [w for w in (WorkflowInfo.from_fields(r) for r in rows) if w.pipeline == pipeline]


def experiment_id_of(uri: str) -> str:
    """`/archive/experiments/E` or `/experiments/E` → `E` ('' for other objects)."""
    parts = [p for p in uri.strip("/").split("/") if p]
    return parts[-1] if len(parts) >= 2 and parts[-2] == "experiments" else ""


def await_workflows(
    xapi: Xapi,
    pipeline: str,
    experiment_ids: list[str],
    *,
    job_id: str | None = None,
    newer_than: str = "",
    timeout: float = 120.0,
) -> dict[str, WorkflowInfo]:
    """The workflow of `pipeline` on each experiment, once XNAT has made it: the one with
    `job_id` (a bulk launch), else the newest launched after `newer_than`. UserError naming
    the experiments still without one after `timeout` seconds."""
    found: dict[str, WorkflowInfo] = {}
    deadline = time.monotonic() + timeout
    while True:
        for experiment in experiment_ids:
            if experiment in found:
                continue
            candidates = [
                w
                for w in workflows_on(xapi, pipeline, experiment)
                if (job_id is None or w.job_id == job_id) and w.launch_time > newer_than
            ]
            if candidates:
                found[experiment] = max(candidates, key=lambda w: (w.launch_time, int(w.id)))
        if len(found) == len(experiment_ids):
            return found
        if time.monotonic() > deadline:
            missing = [e for e in experiment_ids if e not in found]
            raise UserError(
                f"XNAT at {xapi.url} made no {pipeline} workflow within {timeout:.0f} s for "
                f"{', '.join(missing[:10])}: check the event subscription or the launch"
            )
        time.sleep(POLL_INTERVAL_S)
