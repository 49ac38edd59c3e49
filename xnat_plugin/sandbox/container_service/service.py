"""The sandbox's Container Service: storage, the launcher, the worker pool and the event
listener, started and stopped with the server.

Start-up recovers from a crash or a stop: a container that was not final is marked `Failed`
(what is left of its process group is killed) and a launch that was being staged
`Failed (Staging)`; the alias tokens of both are revoked. Launches still in the staging
queue (`_Queued`) run again, as CS's persistent queue hands them out after a restart.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from xnat_plugin.runner import status as cs
from xnat_plugin.sandbox import events
from xnat_plugin.sandbox.archive import DB_FILE
from xnat_plugin.sandbox.auth import revoke_alias_token
from xnat_plugin.sandbox.container_service.catalog import WrapperRef
from xnat_plugin.sandbox.container_service.launcher import Launcher
from xnat_plugin.sandbox.container_service.orphans import kill_orphans
from xnat_plugin.sandbox.container_service.records import ContainerRow
from xnat_plugin.sandbox.container_service.roots import locate_root
from xnat_plugin.sandbox.container_service.store import ContainerServiceStore
from xnat_plugin.sandbox.container_service.subscriptions import SubscriptionListener
from xnat_plugin.sandbox.container_service.worker_pool import WorkerPool
from xnat_plugin.sandbox.db import Database

log = logging.getLogger(__name__)

STATE_DIR = "container_service"
CONTAINER_LOST = (
    "The server stopped while this container ran; it was ended when the server started again."
)
STAGING_LOST = "The server stopped while this launch was being staged."


class ContainerService:
    """One per sandbox app. `workers` launches run at a time; later ones queue behind them."""

    def __init__(self, data_dir: Path, *, workers: int = 1, db: Database | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.state_dir = self.data_dir / STATE_DIR
        self.db = db or Database(self.data_dir / DB_FILE)
        self.store = ContainerServiceStore(self.state_dir / "container_service.db")
        self.pool = WorkerPool(workers)
        self.launcher = Launcher(self.store, self._enqueue, lambda uri: locate_root(self.db, uri))
        self.listener = SubscriptionListener(self.store, self.launcher)
        self.base_url: str | None = None
        # Runner records of the launches being run, by workflow id (kill switches).
        self.running: dict[int, Any] = {}
        self.running_lock = threading.RLock()
        # Launches waiting for the server's own URL (XNAT_HOST of their containers).
        self._waiting_for_url: list[int] = []

    def remember_base_url(self, url: str) -> None:
        with self.running_lock:
            self.base_url = url.rstrip("/")
            waiting, self._waiting_for_url = self._waiting_for_url, []
        for workflow_id in waiting:
            self._enqueue(workflow_id)

    def start(self) -> None:
        self.recover()
        events.subscribe(self.listener)

    def recover(self) -> None:
        """End what a crash or a stop left unfinished, and queue again what never started."""
        for row in self.store.containers():
            if not row.is_final:
                self._fail_lost_container(row)
        for workflow in self.store.workflows():
            if workflow.is_final or workflow.container_row is not None:
                continue
            if workflow.status == cs.WORKFLOW_IN_STAGING_QUEUE:
                self._enqueue(workflow.id)
                continue
            for alias in (workflow.alias, workflow.service_alias):
                if alias:
                    revoke_alias_token(alias, self.db)
            workflow.set_status(cs.FAILED_STAGING, STAGING_LOST)
            self.store.save_workflow(workflow)
            log.warning("workflow %d was being staged when the server stopped", workflow.id)

    def _fail_lost_container(self, row: ContainerRow) -> None:
        killed = kill_orphans(row.process_group, row.process_start)
        if row.alias:
            revoke_alias_token(row.alias, self.db)
        row.add_history(cs.FAILED, message=CONTAINER_LOST)
        self.store.save_container(row)
        workflow = self.store.workflow(int(row.workflow_id))
        if workflow is not None:
            if workflow.service_alias:
                revoke_alias_token(workflow.service_alias, self.db)
            workflow.set_status(row.status, CONTAINER_LOST)
            self.store.save_workflow(workflow)
        log.warning(
            "container %d was running when the server stopped: marked %s (%d process(es) ended)",
            row.id,
            row.status,
            len(killed),
        )

    def stop(self) -> None:
        """Stop listening and kill what runs: the server no longer answers, so a running job
        could not finish its uploads. Launches still queued stay `_Queued` and run after
        the next start."""
        events.unsubscribe(self.listener)
        with self.running_lock:
            running = list(self.running.values())
        for record in running:
            record.request_kill()
        self.pool.close()

    def _enqueue(self, workflow_id: int) -> None:
        from xnat_plugin.sandbox.container_service.execution import run_workflow

        with self.running_lock:
            if self.base_url is None:
                # After a restart the URL clients reach us at is known from the first request
                # (or from app.state.base_url); containers must be able to call back.
                self._waiting_for_url.append(workflow_id)
                return
        self.pool.submit(lambda: run_workflow(self, workflow_id))

    def kill(self, row: ContainerRow, login: str) -> None:
        from xnat_plugin.sandbox.container_service.execution import kill_container

        kill_container(self, row, login)

    def launch_ui(
        self, ref: WrapperRef, project: str | None, root_value: str, user: str
    ) -> dict[str, Any]:
        from xnat_plugin.sandbox.container_service.execution import preresolve_for_ui

        return preresolve_for_ui(self, ref, project, root_value, user)
