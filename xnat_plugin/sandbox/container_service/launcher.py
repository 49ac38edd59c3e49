"""Launching as `ContainerServiceImpl.launchContainer` and `bulkLaunch` do it: a workflow is
created at once and the launch is queued; everything else happens on a worker
(`execution.py`) and shows on the workflow, then on the container once it exists.

- A launch answers `success` with the new workflow's id, no container id (`"id": null`),
  and the command and wrapper ids of the path (0 for the form that did not name them). It is
  refused (HTTP 500, a `failure` report) only when the path names a wrapper id that does not
  exist, or the launch cannot be queued.
- Nothing is checked before queueing that CS checks later: an input value with `(` or a
  missing object fails as `Failed (Command resolution)` on the workflow; CS 3.7.3 does not
  check that the wrapper is enabled when launching over REST.
- A bulk launch answers at once, every target a success whose workflow id is
  `To be assigned` (the launches run on CS's executor); its workflows carry the bulk-launch
  id as their job id.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from xnat_plugin.runner import status as cs
from xnat_plugin.sandbox.container_service.catalog import WrapperNotFound, WrapperRef, find_wrapper
from xnat_plugin.sandbox.container_service.records import WorkflowRow, now, xft_time
from xnat_plugin.sandbox.container_service.store import ContainerServiceStore

log = logging.getLogger(__name__)

# The xsi type CS gives a workflow whose root value it cannot resolve to an object
# (`createContainerWorkflow`, from the root input's type).
FALLBACK_DATA_TYPES = {
    "Project": "xnat:projectData",
    "ProjectAsset": "xnat:abstractProjectAsset",
    "Subject": "xnat:subjectData",
    "SubjectAssessor": "xnat:subjectAssessorData",
    "Session": "xnat:imageSessionData",
    "Scan": "xnat:imageScanData",
    "Resource": "xnat:resource",
    "Assessor": "xnat:imageAssessorData",
}


@dataclass(frozen=True)
class LaunchTarget:
    """Which wrapper to launch, in which project (None for a site-wide launch)."""

    project: str | None
    command_id: int | None = None
    wrapper_name: str | None = None
    wrapper_id: int | None = None


@dataclass(frozen=True)
class RootItem:
    """The object a root value names, as the workflow records it."""

    item_id: str
    data_type: str
    project: str
    scan_id: str | None = None


RootLocator = Callable[[str], RootItem | None]


def _success(workflow_id: str, params: dict[str, str], target: LaunchTarget) -> dict[str, Any]:
    return {
        "status": "success",
        "params": params,
        "id": None,
        "command-id": target.command_id or 0,
        "wrapper-id": target.wrapper_id or 0,
        "workflow-id": workflow_id,
    }


def _failure(message: str, params: dict[str, str], target: LaunchTarget) -> dict[str, Any]:
    return {
        "status": "failure",
        "params": params,
        "id": 0,
        "command-id": target.command_id or None,
        "wrapper-id": target.wrapper_id or None,
        "message": message,
    }


class Launcher:
    """Creates the workflow of a launch and hands the workflow id to `enqueue`."""

    def __init__(
        self,
        store: ContainerServiceStore,
        enqueue: Callable[[int], None],
        locate_root: RootLocator,
    ) -> None:
        self.store = store
        self.enqueue = enqueue
        self.locate_root = locate_root

    def wrapper(self, target: LaunchTarget) -> WrapperRef:
        return find_wrapper(
            self.store,
            command_id=target.command_id,
            wrapper_name=target.wrapper_name,
            wrapper_id=target.wrapper_id,
        )

    def _pipeline_name(self, target: LaunchTarget) -> str:
        if target.wrapper_name:
            return target.wrapper_name
        try:
            return self.wrapper(target).name
        except WrapperNotFound as exc:
            raise LookupError(f"No command wrapper for id {target.wrapper_id}") from exc

    def _create_workflow(
        self,
        target: LaunchTarget,
        pipeline: str,
        root_input: str,
        root_value: str,
        params: dict[str, str],
        user: str,
        bulk_launch_id: str | None,
        subscription_id: int | None,
    ) -> WorkflowRow:
        item = self.locate_root(root_value)
        if item is None:
            # CS keeps the value itself as the ID, and the input type's xsi type.
            root_type = self._root_input_type(target, root_input)
            item = RootItem(root_value, FALLBACK_DATA_TYPES.get(root_type, root_type), "")
        launched = xft_time(now())
        return self.store.add_workflow(
            data_type=item.data_type,
            item_id=item.item_id,
            external_id=target.project or item.project,
            pipeline_name=pipeline,
            create_user=user,
            launch_time=launched,
            last_modified=launched,
            job_id=bulk_launch_id,
            scan_id=item.scan_id,
            command_id=target.command_id or 0,
            wrapper_id=target.wrapper_id or 0,
            wrapper_name=target.wrapper_name or "",
            project=target.project or "",
            root_input=root_input,
            params=params,
            subscription_id=subscription_id,
        )

    def _root_input_type(self, target: LaunchTarget, root_input: str) -> str:
        try:
            inputs = self.wrapper(target).external_inputs
        except WrapperNotFound:
            return ""
        return next((str(i.get("type")) for i in inputs if i.get("name") == root_input), "")

    def launch(
        self,
        target: LaunchTarget,
        root_input: str,
        params: dict[str, str],
        user: str,
        *,
        subscription_id: int | None = None,
        bulk_launch_id: str | None = None,
    ) -> dict[str, Any]:
        """One launch; the launch report XNAT answers (success or failure)."""
        params = {k: str(v) for k, v in params.items()}
        try:
            pipeline = self._pipeline_name(target)
            root_value = params.get(root_input)
            if root_value is None:
                # No root object, no workflow: CS queues the launch and reports no id.
                log.info("launch of %s without a value for %r: no workflow", pipeline, root_input)
                return _success(cs.TO_BE_ASSIGNED, params, target)
            workflow = self._create_workflow(
                target,
                pipeline,
                root_input,
                root_value,
                params,
                user,
                bulk_launch_id,
                subscription_id,
            )
        except LookupError as exc:
            log.info("launch refused: %s", exc)
            return _failure(str(exc), params, target)
        workflow.set_status(cs.WORKFLOW_IN_STAGING_QUEUE)
        self.store.save_workflow(workflow)
        self.enqueue(workflow.id)
        log.info(
            "queued %s on %s as workflow %d (user %s)", pipeline, root_value, workflow.id, user
        )
        return _success(str(workflow.id), params, target)

    def bulk_launch(
        self, target: LaunchTarget, root_input: str, params: dict[str, str], user: str
    ) -> dict[str, Any]:
        """`…/bulklaunch`: the root value is a JSON array of URIs; each becomes a launch with
        this bulk launch's id, answered as `To be assigned`."""
        bulk_id = f"bulk-{user}{int(time.time() * 1000)}{random.randint(0, 999)}"
        targets = json.loads(params.get(root_input) or "[]")
        if not isinstance(targets, list):
            raise ValueError(f"the value of {root_input} is not a JSON array")
        report: dict[str, Any] = {
            "bulk-launch-id": bulk_id,
            "pipeline-name": target.wrapper_name or self._pipeline_name(target),
            "successes": [],
            "failures": [],
        }
        for uri in targets:
            one = {**params, root_input: str(uri)}
            self.launch(target, root_input, one, user, bulk_launch_id=bulk_id)
            report["successes"].append(_success(cs.TO_BE_ASSIGNED, one, target))
        return report
