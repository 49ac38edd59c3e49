"""Launching: the checks XNAT makes before it queues a container, the queued record, and the
bulk form. The container itself runs later on the worker pool (`execution.py`).

Like Container Service 3.x, a launch returns at once with a workflow id and status `_Queued`;
what can only be known by resolving the command against XNAT (derived inputs, matchers)
ends as `Failed (Command resolution)` on the container instead of in the launch report.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from xnat_plugin.commands.input_filter import IllegalInputError, check_input_values
from xnat_plugin.sandbox.container_service.catalog import WrapperNotFound, WrapperRef, find_wrapper
from xnat_plugin.sandbox.container_service.store import SITE, ContainerRow, ContainerServiceStore

log = logging.getLogger(__name__)


class LaunchRefused(Exception):
    """A launch that fails before queueing; the message goes into the failure report."""


@dataclass(frozen=True)
class LaunchTarget:
    """Which wrapper to launch, in which project (None for a site-wide launch)."""

    project: str | None
    command_id: int | None = None
    wrapper_name: str | None = None
    wrapper_id: int | None = None


def _failure(message: str, params: dict[str, str], ref: WrapperRef | None) -> dict[str, Any]:
    return {
        "status": "failure",
        "message": message,
        "params": params,
        "id": None,
        "command-id": ref.command_id if ref else None,
        "wrapper-id": ref.wrapper_id if ref else None,
    }


def _success(row: ContainerRow, params: dict[str, str]) -> dict[str, Any]:
    return {
        "status": "success",
        "workflow-id": row.workflow_id,
        "params": params,
        "id": row.id,
        "container-id": row.container_id,
        "command-id": row.command_id,
        "wrapper-id": row.wrapper_id,
    }


class Launcher:
    """Checks a launch, records it `_Queued`, and hands it to `enqueue(container_id)`."""

    def __init__(self, store: ContainerServiceStore, enqueue: Callable[[int], None]) -> None:
        self.store = store
        self.enqueue = enqueue

    def _wrapper(self, target: LaunchTarget) -> WrapperRef:
        try:
            return find_wrapper(
                self.store,
                command_id=target.command_id,
                wrapper_name=target.wrapper_name,
                wrapper_id=target.wrapper_id,
            )
        except WrapperNotFound as exc:
            raise LaunchRefused(str(exc)) from exc

    def _check_enabled(self, ref: WrapperRef, project: str | None) -> None:
        if not self.store.is_enabled(SITE, ref.wrapper_id):
            raise LaunchRefused(f'Wrapper "{ref.name}" (id {ref.wrapper_id}) is not enabled.')
        if project and not self.store.is_enabled(project, ref.wrapper_id):
            raise LaunchRefused(
                f'Wrapper "{ref.name}" (id {ref.wrapper_id}) is not enabled for project '
                f'"{project}".'
            )

    def _queue(
        self,
        ref: WrapperRef,
        target: LaunchTarget,
        root_input: str,
        params: dict[str, str],
        user: str,
        *,
        bulk_launch_id: str | None = None,
        subscription_id: int | None = None,
    ) -> ContainerRow:
        row = self.store.add_container(
            command_id=ref.command_id,
            wrapper_id=ref.wrapper_id,
            wrapper_name=ref.name,
            project=target.project or "",
            user=user,
            root_input=root_input,
            root_uri=params.get(root_input, ""),
            params=params,
            docker_image=str(ref.command.get("image", "")),
            workflow_id="",
            bulk_launch_id=bulk_launch_id,
            subscription_id=subscription_id,
        )
        # XNAT's workflow ids are numbers of their own table; one per launch here too.
        row.workflow_id = str(row.id)
        self.store.save_container(row)
        self.enqueue(row.id)
        log.info("queued %s on %s as container %d (user %s)", ref.name, row.root_uri, row.id, user)
        return row

    def launch(
        self,
        target: LaunchTarget,
        root_input: str,
        params: dict[str, str],
        user: str,
        *,
        subscription_id: int | None = None,
    ) -> dict[str, Any]:
        """One launch; the launch report XNAT answers (success or failure)."""
        params = {k: str(v) for k, v in params.items()}
        ref: WrapperRef | None = None
        try:
            ref = self._wrapper(target)
            self._check(ref, target, root_input, params)
            row = self._queue(
                ref, target, root_input, params, user, subscription_id=subscription_id
            )
        except (LaunchRefused, IllegalInputError) as exc:
            log.info("launch refused: %s", exc)
            return _failure(str(exc), params, ref)
        return _success(row, params)

    def _check(
        self, ref: WrapperRef, target: LaunchTarget, root_input: str, params: dict[str, str]
    ) -> None:
        if root_input != ref.root_input_name:
            raise LaunchRefused(
                f'Wrapper "{ref.name}" has no external input "{root_input}"; its root input '
                f'is "{ref.root_input_name}".'
            )
        if not params.get(root_input):
            raise LaunchRefused(f'No value given for the root input "{root_input}".')
        self._check_enabled(ref, target.project)
        check_input_values(params)

    def bulk_launch(
        self, target: LaunchTarget, root_input: str, params: dict[str, str], user: str
    ) -> dict[str, Any]:
        """`…/bulklaunch`: the root value is a JSON array of URIs, one launch each."""
        bulk_id = f"bulk-{user}{int(time.time() * 1000)}{random.randint(0, 999)}"
        try:
            uris = json.loads(params.get(root_input) or "[]")
            if not isinstance(uris, list):
                raise ValueError("not a list")
        except ValueError:
            uris = None
        report: dict[str, Any] = {
            "bulk-launch-id": bulk_id,
            "pipeline-name": target.wrapper_name or str(target.wrapper_id),
            "successes": [],
            "failures": [],
        }
        if uris is None:
            report["failures"].append(
                _failure(f'The value of "{root_input}" is not a JSON array of URIs.', params, None)
            )
            return report
        ref: WrapperRef | None = None
        for uri in uris:
            one = {**params, root_input: str(uri)}
            try:
                ref = ref or self._wrapper(target)
                self._check(ref, target, root_input, one)
                row = self._queue(ref, target, root_input, one, user, bulk_launch_id=bulk_id)
                report["successes"].append(_success(row, one))
            except (LaunchRefused, IllegalInputError) as exc:
                report["failures"].append(_failure(str(exc), one, ref))
        return report
