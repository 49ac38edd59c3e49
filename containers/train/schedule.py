"""The learning-rate schedule: a linear warm-up, then a cosine down to a floor at the last step.

The plan can be re-fitted while training (a time budget that holds fewer epochs than asked):
from the step it is re-fitted at, the cosine starts again from the factor reached there and
ends at the floor on the new last step, so the rate never jumps and always comes down. The
plan is plain attributes: `LambdaLR.state_dict()` saves them with a checkpoint and
`load_state_dict` restores them.
"""

from __future__ import annotations

import math


class WarmupCosine:
    """The learning-rate factor of each optimizer step, for `torch.optim.lr_scheduler.LambdaLR`."""

    def __init__(self, total_steps: int, warmup_fraction: float, floor: float = 0.0) -> None:
        self.warmup_steps = max(1, int(total_steps * warmup_fraction))
        self.floor = floor
        self.total_steps = max(1, total_steps)
        # Where the cosine starts, and from which factor (after warm-up: 1).
        self.start_step = self.warmup_steps
        self.start_factor = 1.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.start_step)
        progress = min(1.0, max(0.0, (step - self.start_step) / span))
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.floor + (self.start_factor - self.floor) * cosine

    def refit(self, at_step: int, total_steps: int) -> None:
        """Re-plan from `at_step` (steps taken so far) to end at the floor on `total_steps`."""
        factor = self(at_step)
        self.warmup_steps = min(self.warmup_steps, at_step)
        self.start_step, self.start_factor = at_step, factor
        self.total_steps = max(total_steps, at_step)
