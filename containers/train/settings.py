"""The training settings of one run (from the command line), as typed data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from containers.common.losses import DEFAULT_LOSS

# CPU-friendly UNet: profiled on 2 idle cores (torch 2.13, oneDNN on, which beat oneDNN off
# here), a 2×(1×96×96×32) step takes ~0.1 s with these channels, ~0.2 s with 16..128 and two
# residual units, and several seconds with the 5-level default; shared cores are 10× slower.
CPU_NETWORK_KWARGS: dict[str, dict[str, Any]] = {
    "UNet": {"channels": [8, 16, 32, 64], "strides": [2, 2, 2], "num_res_units": 1},
    "SegResNet": {"init_filters": 8, "blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1]},
    "DynUNet": {},
    "SwinUNETR": {"feature_size": 12},
}


@dataclass
class TrainSettings:
    model_name: str
    network: str = "UNet"
    network_kwargs: dict[str, Any] = field(default_factory=dict)
    loss: str = DEFAULT_LOSS  # a name in containers.common.losses
    loss_kwargs: dict[str, Any] = field(default_factory=dict)  # over the loss's defaults
    epochs: int = 20
    folds: int = 1
    patch_size: tuple[int, int, int] = (96, 96, 32)
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    batch_size: int = 1  # cases per optimizer step, over all processes
    samples_per_case: int = 2  # patches cut from each case per step
    steps_per_epoch: int = 20  # the case list is repeated to give at least this many steps
    warmup_fraction: float = 0.03
    seed: int = 0
    device: str = "auto"
    max_minutes: float | None = None  # time budget: the schedule is fitted to the epochs that fit
    # Sliding-window overlap of validation; the bundle stores it as infer's overlap.
    val_overlap: float = 0.25

    def fingerprint(self) -> dict[str, Any]:
        """What must match for a checkpoint to be resumed."""
        data = asdict(self)
        for volatile in ("device", "max_minutes"):
            data.pop(volatile)
        data["patch_size"] = list(self.patch_size)
        # Checkpoints written before the loss was a setting were all trained with the default
        # loss: a run with that loss still resumes them.
        if self.loss == DEFAULT_LOSS and not self.loss_kwargs:
            del data["loss"], data["loss_kwargs"]
        return data
