"""`xnat-monai launch`: one launch or a bulk launch over a project's sessions, through XNAT's
launch REST API, with the checks an admin would otherwise learn from a failed container.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from xnat_plugin.admin.wrappers import (
    RegisteredWrapper,
    ensure_enabled_on_project,
    find_wrapper,
    wrapper_path,
)
from xnat_plugin.admin.xapi import Xapi
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Launched:
    """One accepted launch: its target and the workflow XNAT made for it ("To be assigned"
    for a bulk launch until the workflow is found, see `workflows.await_workflows`)."""

    target: str
    workflow_id: str
    wrapper: str = ""

    @property
    def has_workflow(self) -> bool:
        return self.workflow_id.isdigit()


def data_path(uri: str) -> str:
    """`/archive/experiments/E` or `/experiments/E` → `/data/experiments/E`."""
    path = "/" + uri.strip("/")
    if path.startswith("/data/"):
        return path
    if path.startswith("/archive/"):
        path = path[len("/archive") :]
    return "/data" + path


def ensure_target_exists(xapi: Xapi, uri: str) -> None:
    response = xapi.request(
        "GET", data_path(uri), what=f"read {uri}", ok=(200, 404), params={"format": "json"}
    )
    if response.status_code == 404:
        raise UserError(
            f"XNAT at {xapi.url} has no object at {uri}: check --target (e.g. "
            "/experiments/XNAT_E00001 or /projects/P/experiments/LABEL)"
        )


def project_session_uris(xapi: Xapi, project: str) -> list[str]:
    """`/experiments/<id>` of every image session of the project."""
    listing = xapi.get_json(
        f"/data/projects/{project}/experiments",
        what=f"list the sessions of project {project}",
        params={"format": "json"},
    )
    rows = (listing.get("ResultSet") or {}).get("Result") or []
    uris = [
        f"/experiments/{row['ID']}"
        for row in rows
        if "sessiondata" in str(row.get("xsiType", "")).lower()
    ]
    if not uris:
        raise UserError(f"project {project} on {xapi.url} has no image sessions to launch on")
    return uris


def _parse_inputs(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UserError(f"--input {pair!r} is not name=value")
        values[name] = value
    return values


def parse_inputs(pairs: list[str] | tuple[str, ...] | dict[str, str] | None) -> dict[str, str]:
    if pairs is None:
        return {}
    return dict(pairs) if isinstance(pairs, dict) else _parse_inputs(pairs)


def _prepare(xapi: Xapi, project: str, wrapper_name: str) -> RegisteredWrapper:
    wrapper = find_wrapper(xapi, wrapper_name)
    ensure_enabled_on_project(xapi, wrapper, project)
    if not wrapper.root_input:
        raise UserError(f"wrapper '{wrapper_name}' has no external input and cannot be launched")
    return wrapper


def _refused(report: dict[str, Any], target: str) -> UserError:
    message = str(report.get("message") or "no reason given").strip().replace("\n", " ")
    return UserError(f"XNAT refused the launch on {target}: {message}")


def launch(
    xapi: Xapi,
    project: str,
    wrapper_name: str,
    target: str,
    inputs: list[str] | dict[str, str] | None = None,
) -> Launched:
    """Launch `wrapper_name` on `target` (an XNAT URI) in `project`; UserError when refused."""
    wrapper = _prepare(xapi, project, wrapper_name)
    ensure_target_exists(xapi, target)
    body = {**parse_inputs(inputs), wrapper.root_input: target}
    response = xapi.post_json(
        f"{wrapper_path(wrapper, project)}/root/{wrapper.root_input}/launch",
        body,
        what=f"launch {wrapper_name}",
        ok=(200, 201, 400, 500),
    )
    report = response.json()
    if report.get("status") != "success":
        raise _refused(report, target)
    launched = Launched(target, str(report.get("workflow-id")), wrapper_name)
    log.info("launched %s on %s (workflow %s)", wrapper_name, target, launched.workflow_id)
    return launched


@dataclass(frozen=True)
class BulkLaunched:
    """A bulk launch as XNAT answers it: every success still "To be assigned"."""

    bulk_launch_id: str
    wrapper: str
    launched: list[Launched]
    failures: list[tuple[str, str]]


def bulk_launch(
    xapi: Xapi,
    project: str,
    wrapper_name: str,
    targets: list[str] | None = None,
    inputs: list[str] | dict[str, str] | None = None,
) -> BulkLaunched:
    """Bulk launch over `targets` (default: every session of the project)."""
    wrapper = _prepare(xapi, project, wrapper_name)
    uris = targets if targets is not None else project_session_uris(xapi, project)
    body = {**parse_inputs(inputs), wrapper.root_input: json.dumps(uris)}
    response = xapi.post_json(
        f"{wrapper_path(wrapper, project)}/root/{wrapper.root_input}/bulklaunch",
        body,
        what=f"bulk launch {wrapper_name}",
    )
    report = response.json()
    launched = [
        Launched(
            str((s.get("params") or {}).get(wrapper.root_input, "")),
            str(s.get("workflow-id")),
            wrapper_name,
        )
        for s in report.get("successes") or []
    ]
    failures = [
        (str((f.get("params") or {}).get(wrapper.root_input, "")), str(f.get("message")))
        for f in report.get("failures") or []
    ]
    log.info(
        "bulk launch %s: %d launched, %d refused",
        report.get("bulk-launch-id"),
        len(launched),
        len(failures),
    )
    return BulkLaunched(str(report.get("bulk-launch-id")), wrapper_name, launched, failures)


def assign_workflows(xapi: Xapi, bulk: BulkLaunched, timeout: float = 120.0) -> list[Launched]:
    """The launches of a bulk launch with their workflow ids, found by the bulk launch id
    (XNAT launches each target on its executor after answering)."""
    from xnat_plugin.admin.workflows import await_workflows, experiment_id_of

    targets = {item.target: experiment_id_of(item.target) for item in bulk.launched}
    unknown = [t for t, experiment in targets.items() if not experiment]
    if unknown:
        raise UserError(
            f"cannot follow bulk-launched {unknown[0]}: only sessions (/experiments/ID) can be "
            "found again after a bulk launch"
        )
    found = await_workflows(
        xapi,
        bulk.wrapper,
        sorted(set(targets.values())),
        job_id=bulk.bulk_launch_id,
        timeout=timeout,
    )
    return [
        Launched(item.target, found[targets[item.target]].id, bulk.wrapper)
        for item in bulk.launched
    ]
