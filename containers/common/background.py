"""Work a step starts at once and needs later: heavy imports, loading a model.

Importing torch takes about a second and MONAI several (its `__init__` loads most of MONAI), so a
step starts them in one background thread at once and reads its input meanwhile: reading files
and decoding pixels mostly release the GIL. The stages run in order; `result(name)` waits for
one stage (and so for every stage before it), returns its value or raises its error, and adds
the wait to `waited_seconds`, which the step's report records apart from its own work.

The step's main thread must not import a module that a stage still imports (two threads
importing each other's modules can deadlock): it waits for that stage first, then imports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

Stage = tuple[str, Callable[[], Any]]


class BackgroundStages:
    """Runs `stages` one after the other in a background thread (started on `__enter__`)."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self._stages = list(stages)
        self._names = [name for name, _ in self._stages]
        self._done = {name: threading.Event() for name in self._names}
        self._results: dict[str, Any] = {}
        self._errors: dict[str, BaseException] = {}
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="step-background", daemon=False)
        self.waited_seconds = 0.0

    def __enter__(self) -> BackgroundStages:
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
            self._done[name].set()
