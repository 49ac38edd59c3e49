"""Work a step starts at once and needs later: heavy imports, loading a model.

Importing torch takes about a second and MONAI several (its `__init__` loads most of MONAI), so a
step starts them in one background thread at once and reads its input meanwhile: reading files
and decoding pixels mostly release the GIL. The stages run in order; `result(name)` waits for
one stage (and so for every stage before it), returns its value or raises its error, and adds
the wait to `waited_seconds`, which the step's report records apart from its own work.

The step's main thread must not import a module that a stage still imports (two threads
importing each other's modules can deadlock): it waits for that stage first, then imports.

`pause_gc`, for a process that is the step (not a library caller): Python's cyclic garbage
collector stays off while the stages run, and what they loaded is then frozen out of its
collections (`gc.freeze`, as Python's `gc` documentation advises for long-lived objects before a
fork) before it is switched back on. Imports create tens of thousands of long-lived objects and
almost no garbage, yet each full collection walks them all again: about a fifth of the imports'
time with torch and MONAI. Objects still die by reference counting meanwhile; only cyclic
garbage made during the stages (little) waits, and frozen cycles are never collected.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

Stage = tuple[str, Callable[[], Any]]

# True once the process paused the collector itself at its first line (`pause_gc_from_start`):
# the first `BackgroundStages(pause_gc=True)` then resumes it as if it had paused it.
_paused_from_start = False


def pause_gc_from_start() -> None:
    """For a process that is the step, at its first line (`containers.common.program`)."""
    global _paused_from_start
    if gc.isenabled():
        gc.disable()
        _paused_from_start = True


class BackgroundStages:
    """Runs `stages` one after the other in a background thread (started on `__enter__`)."""

    def __init__(self, stages: Sequence[Stage], *, pause_gc: bool = False) -> None:
        self._stages = list(stages)
        self._pause_gc = pause_gc
        self._resumed_gc = threading.Lock()
        self._gc_was_enabled = True
        self._names = [name for name, _ in self._stages]
        self._done = {name: threading.Event() for name in self._names}
        self._results: dict[str, Any] = {}
        self._errors: dict[str, BaseException] = {}
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="step-background", daemon=False)
        self.waited_seconds = 0.0

    def __enter__(self) -> BackgroundStages:
        if self._pause_gc:
            self._gc_was_enabled = gc.isenabled() or _paused_from_start
            gc.disable()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # Stages not started yet are skipped; one under way finishes (an import cannot be cut).
        self._cancelled.set()
        self._thread.join()
        self._resume_gc()

    def _resume_gc(self) -> None:
        """Once: freeze what the stages loaded, then collect as before."""
        if not self._pause_gc or not self._resumed_gc.acquire(blocking=False):
            return
        gc.freeze()
        if self._gc_was_enabled:
            gc.enable()

    def result(self, name: str) -> Any:
        """The stage's value once it has run; its error, re-raised here, if it failed."""
        if name not in self._done:
            raise KeyError(f"no background stage {name!r} (stages: {', '.join(self._names)})")
        started = time.perf_counter()
        self._done[name].wait()
        self.waited_seconds += time.perf_counter() - started
        if name in self._errors:
            raise self._errors[name]
        return self._results[name]

    def _run(self) -> None:
        failed: str | None = None
        for name, work in self._stages:
            if failed is None and not self._cancelled.is_set():
                started = time.perf_counter()
                try:
                    self._results[name] = work()
                    log.debug("background %s ready in %.2f s", name, time.perf_counter() - started)
                except BaseException as exc:  # handed to the main thread by result()
                    self._errors[name] = exc
                    failed = name
            if name not in self._results and name not in self._errors:
                # Later stages build on earlier ones: they fail with the earlier stage's error.
                self._errors[name] = (
                    self._errors[failed]
                    if failed is not None
                    else RuntimeError(f"background stage {name!r} skipped: the step ended first")
                )
            if name == self._names[-1]:
                self._resume_gc()  # before the last stage is seen done: no wait sees it off
            self._done[name].set()
