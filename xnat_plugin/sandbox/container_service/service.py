"""The sandbox's Container Service: storage, the launcher, the worker pool and the event
listener, started and stopped with the server."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from xnat_plugin.sandbox import events
from xnat_plugin.sandbox.container_service.catalog import WrapperRef
from xnat_plugin.sandbox.container_service.launcher import Launcher
from xnat_plugin.sandbox.container_service.store import ContainerServiceStore
from xnat_plugin.sandbox.container_service.subscriptions import SubscriptionListener
from xnat_plugin.sandbox.container_service.worker_pool import WorkerPool

log = logging.getLogger(__name__)

STATE_DIR = "container_service"


class ContainerService:
    """One per sandbox app. `workers` containers run at a time; launches queue behind them."""

    def __init__(self, data_dir: Path, *, workers: int = 1) -> None:
        self.data_dir = Path(data_dir)
        self.state_dir = self.data_dir / STATE_DIR
        self.store = ContainerServiceStore(self.state_dir / "container_service.db")
        self.pool = WorkerPool(workers)
        self.launcher = Launcher(self.store, self._enqueue)
        self.listener = SubscriptionListener(self.store, self.launcher)
        self.base_url: str | None = None
        # Kill switches of running containers, by container id (set by execution.py).
        self.running: dict[int, Any] = {}
        self.running_lock = threading.RLock()
        # Launches waiting for the server's own URL (XNAT_HOST of their containers).
        self._waiting_for_url: list[int] = []

    def remember_base_url(self, url: str) -> None:
        with self.running_lock:
            self.base_url = url.rstrip("/")
            waiting, self._waiting_for_url = self._waiting_for_url, []
        for container_id in waiting:
            self._enqueue(container_id)

    def container_dir(self, container_id: int) -> Path:
        """Logs and build directories of one container."""
        return self.state_dir / "containers" / f"{container_id:06d}"

    def start(self) -> None:
        events.subscribe(self.listener)
        # Launches queued before a restart run now, in their order.
        for row in self.store.containers():
            if row.status == "_Queued":
                self._enqueue(row.id)

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

    def _enqueue(self, container_id: int) -> None:
        from xnat_plugin.sandbox.container_service.execution import run_container

        with self.running_lock:
            if self.base_url is None:
                # After a restart the URL clients reach us at is known from the first request
                # (or from app.state.base_url); containers must be able to call back.
                self._waiting_for_url.append(container_id)
                return
        self.pool.submit(lambda: run_container(self, container_id))

    def kill(self, container_id: int) -> None:
        from xnat_plugin.sandbox.container_service.execution import kill_container

        kill_container(self, container_id)

    def launch_ui(
        self, ref: WrapperRef, project: str | None, root_value: str, user: str
    ) -> dict[str, Any]:
        from xnat_plugin.sandbox.container_service.execution import preresolve_for_ui

        return preresolve_for_ui(self, ref, project, root_value, user)
