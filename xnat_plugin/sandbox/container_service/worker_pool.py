"""A bounded pool of worker threads that run queued containers, oldest first.

Launches return at once with `_Queued`; at most `size` containers run at the same time
(XNAT's own queue consumers behave the same). Closing waits for running jobs to finish and
drops the ones still queued, which keep their `_Queued` status on disk.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_STOP = object()


class WorkerPool:
    """`submit(job)` puts a job in line; `size` threads take jobs from the line one by one."""

    def __init__(self, size: int = 1, name: str = "container-worker") -> None:
        if size < 1:
            raise ValueError("the worker pool needs at least one worker")
        self.size = size
        self._jobs: queue.Queue[object] = queue.Queue()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        if self._closed:
            raise RuntimeError("the worker pool is closed")
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            try:
                job()  # type: ignore[operator]
            except Exception:  # a job's own failure must not stop the worker
                log.exception("a queued container job failed unexpectedly")

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking jobs, let running ones finish (up to `timeout` seconds each)."""
        if self._closed:
            return
        self._closed = True
        # Drop what is still waiting, so closing does not run a whole backlog.
        try:
            while True:
                self._jobs.get_nowait()
        except queue.Empty:
            pass
        for _ in self._threads:
            self._jobs.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)
