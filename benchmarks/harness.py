"""What every benchmark returns, and how `make bench` prints and stores it.

A benchmark measures ours and a reference side by side in one run and reports their ratio
against a goal. Each `benchmarks/bench_*.py` module defines `run(quick: bool) -> list[BenchResult]`.
"""

from __future__ import annotations

import operator
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

_GOAL_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


@dataclass(frozen=True)
class BenchResult:
    """One side-by-side measurement: `ratio = ours / reference`, judged against `goal`.

    `goal` is a comparison and a number, e.g. "<=0.15" (ours at most 15 % of the
    reference's time) or ">=0.5" (at least half the reference's throughput). A goal that
    starts with "ours", e.g. "ours<=3", bounds ours itself (in `unit`) where the target is a
    figure rather than a share of the reference; the ratio is still printed beside it.
    """

    name: str
    ours: float
    reference: float
    goal: str
    unit: str = "s"
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.reference if self.reference else float("inf")

    @property
    def holds(self) -> bool:
        goal, judged = self.goal, self.ratio
        if goal.startswith("ours"):
            goal, judged = goal[len("ours") :], self.ours
        for symbol in ("<=", ">=", "<", ">"):
            if goal.startswith(symbol):
                return _GOAL_OPS[symbol](judged, float(goal[len(symbol) :]))
        raise ValueError(f"goal {self.goal!r} must start with <=, >=, < or > (or ours<=, …)")

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data.update(ratio=self.ratio, holds=self.holds)
        return data


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """`with stopwatch() as elapsed: ...` then `elapsed()` gives seconds."""
    start = time.perf_counter()
    end: list[float] = []
    try:
        yield lambda: (end[0] if end else time.perf_counter()) - start
    finally:
        end.append(time.perf_counter())


def peak_python_memory(fn: Callable[[], object]) -> tuple[object, int]:
    """Run `fn` and return its result with the peak bytes numpy/python allocated meanwhile."""
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak
