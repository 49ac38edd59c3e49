"""A training run's time budget, and how many epochs fit in what is left of it.

The budget covers the whole run; each fold gets an even share of what is left when it starts.
After each epoch the pace (seconds per epoch, the first epoch left out once later ones are
measured: it pays for warm-up) says how many epochs still fit, and the trainer re-fits its
learning-rate schedule to end on the last of them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

# Epochs whose mean gives the pace: recent enough to follow a machine that slows down.
PACE_WINDOW = 3
# Planned epochs must fit at a pace this much slower than measured: an epoch a little slower
# than the ones before must not use up the time of the epoch planned as the last.
PACE_MARGIN = 0.1


def now() -> float:
    """The clock of budgets and epoch times (monotonic seconds)."""
    return time.monotonic()


def deadline_after(minutes: float | None) -> float | None:
    """The clock time at which a budget of `minutes` from now runs out (None: no budget)."""
    return now() + minutes * 60.0 if minutes else None


def fold_deadline(deadline: float | None, folds_left: int) -> float | None:
    """This fold's share of the run's budget: what is left, split evenly over the folds left."""
    if deadline is None:
        return None
    start = now()
    return start + max(0.0, deadline - start) / max(1, folds_left)


def pace(epoch_seconds: Sequence[float]) -> float:
    """Seconds per epoch from those measured (the first, with its warm-up, only while alone)."""
    measured = list(epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds)
    recent = measured[-PACE_WINDOW:]
    return sum(recent) / len(recent)


def epochs_that_fit(
    epochs_done: int, epochs_asked: int, epoch_seconds: Sequence[float], seconds_left: float
) -> int:
    """The epochs to plan for: all asked, or as many as the time left holds at the measured
    pace with its margin (never fewer than those done)."""
    if not epoch_seconds:
        return epochs_asked
    per_epoch = max(pace(epoch_seconds) * (1.0 + PACE_MARGIN), 1e-9)
    more = math.floor(max(0.0, seconds_left) / per_epoch)
    return max(epochs_done, min(epochs_asked, epochs_done + more))


class EpochClock:
    """A fold's epochs against its share of the budget, for every trainer: each epoch's time
    runs from the end of the one before (so a checkpoint's upload counts), and after each epoch
    the epochs that still fit are planned again."""

    def __init__(
        self,
        epochs_asked: int,
        planned: int,
        deadline: float | None,
        replan: Callable[[int], None] = lambda planned: None,
    ) -> None:
        self.epochs_asked = epochs_asked
        self.planned = planned
        self.deadline = deadline
        self._replan = replan
        self.seconds: list[float] = []
        self._lap = now()

    def epoch_ended(
        self,
        epochs_done: int,
        *,
        fold: int,
        agree: Callable[[int], int] = int,
    ) -> int:
        """The epochs planned now. `agree` makes every process plan alike (the process group's
        broadcast); the clock's `replan` re-fits the learning-rate schedule when the plan
        changes."""
        ended = now()
        self.seconds.append(ended - self._lap)
        self._lap = ended
        if self.deadline is None:
            return self.planned
        fits = int(
            agree(
                epochs_that_fit(epochs_done, self.epochs_asked, self.seconds, self.deadline - ended)
            )
        )
        if fits != self.planned:
            log.info(
                "fold %d: %d s per epoch, the time budget holds %d of %d epochs; the learning "
                "rate now comes down to its floor on epoch %d",
                fold,
                round(pace(self.seconds)),
                fits,
                self.epochs_asked,
                fits,
            )
            self._replan(fits)
            self.planned = fits
        return self.planned
