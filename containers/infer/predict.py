"""Sliding-window prediction with a fold ensemble and optional flip test-time augmentation.

Returns class margins (each label's logit minus the background's) on the model grid, averaged
over models and flips as nnU-Net averages logits, and how long the network's forward passes
took (the rest of the step is measured against that). The label of a voxel is the class with
the highest logit; softmax would not change which one, so it is never computed.

The windows are laid out and blended as MONAI's `sliding_window_inference` does with
`mode="gaussian"` (same window starts, same clamped Gaussian weights), so results match it;
what differs is the bookkeeping around the network: the weight sum per voxel is computed once
per image and shared by every model and flip, and windows are cut from the CPU volume so
only each batch goes to the device (a whole CT at model spacing need not fit in GPU memory).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

# Flip TTA over each spatial axis alone (plus none): 4 passes, most of the 8-mirror gain.
TTA_FLIPS: tuple[tuple[int, ...], ...] = ((), (2,), (3,), (4,))
GAUSSIAN_SIGMA_SCALE = 0.125
# Weights below this are raised to it, as MONAI does: every voxel of a window counts a little.
MIN_WEIGHT = 1e-3


@dataclass
class Prediction:
    margins: torch.Tensor  # (classes - 1, *model_shape) float32 on CPU: mean logit - background
    forward_seconds: float
    passes: int
    windows: int  # network inputs evaluated: windows per pass × passes


class ForwardTimer:
    """Adds up the wall time of a network's forward calls (synchronised on CUDA)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = 0.0

    def wrap(self, model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        def forward(batch: torch.Tensor) -> torch.Tensor:
            start = time.perf_counter()
            out = model(batch)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.seconds += time.perf_counter() - start
            return out

        return forward


def window_starts(size: int, window: int, overlap: float) -> list[int]:
    """Where windows of `window` voxels start along an axis of `size` (≥ window) voxels:
    every int(window × (1 − overlap)) voxels, the last one flush with the end."""
    step = window if window == size else max(1, int(window * (1 - overlap)))
    count = next((n + 1 for n in range(math.ceil(size / step)) if n * step + window >= size), 1)
    return [min(n * step, size - window) for n in range(count)]


def gaussian_weights(patch_size: Sequence[int]) -> torch.Tensor:
    """Per-voxel weight of a window's prediction: a Gaussian (σ = patch/8) peaking at the
    centre, floored at MIN_WEIGHT."""
    weights = torch.ones(())
    for size in patch_size:
        x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2.0
        sigma = size * GAUSSIAN_SIGMA_SCALE
        weights = weights.unsqueeze(-1) * torch.exp(x**2 / (-2 * sigma**2))
    return weights.clamp_(min=max(float(weights.min()), MIN_WEIGHT))


@dataclass(frozen=True)
class WindowPlan:
    """The windows over one padded volume and what they add up to at each voxel."""

    shape: tuple[int, int, int]  # before padding
    patch_size: tuple[int, int, int]
    padding: tuple[int, ...]  # F.pad order: last axis first, (before, after) pairs
    padded_shape: tuple[int, int, int]
    corners: list[tuple[int, int, int]]
    weights: torch.Tensor  # (*patch) float32

    @classmethod
    def build(cls, shape: Sequence[int], patch_size: Sequence[int], overlap: float) -> WindowPlan:
        padding: list[int] = []
        for size, window in zip(reversed(shape), reversed(patch_size), strict=True):
            missing = max(window - size, 0)
            padding.extend([missing // 2, missing - missing // 2])
        padded = tuple(max(s, w) for s, w in zip(shape, patch_size, strict=True))
        starts = [window_starts(s, w, overlap) for s, w in zip(padded, patch_size, strict=True)]
        return cls(
            shape=(int(shape[0]), int(shape[1]), int(shape[2])),
            patch_size=(int(patch_size[0]), int(patch_size[1]), int(patch_size[2])),
            padding=tuple(padding),
            padded_shape=(padded[0], padded[1], padded[2]),
            corners=[(x, y, z) for x in starts[0] for y in starts[1] for z in starts[2]],
            weights=gaussian_weights(patch_size),
        )

    def window(self, corner: tuple[int, int, int]) -> tuple[slice, slice, slice]:
        """The window starting at `corner` of the padded volume."""
        return (
            slice(corner[0], corner[0] + self.patch_size[0]),
            slice(corner[1], corner[1] + self.patch_size[1]),
            slice(corner[2], corner[2] + self.patch_size[2]),
        )

    def unpadded(self) -> tuple[slice, slice, slice]:
        """Where the volume itself lies in the padded one."""
        low = [self.padding[2 * (2 - axis)] for axis in range(3)]
        return (
            slice(low[0], low[0] + self.shape[0]),
            slice(low[1], low[1] + self.shape[1]),
            slice(low[2], low[2] + self.shape[2]),
        )

    def weight_sum(self) -> torch.Tensor:
        """(*padded_shape) float32, > 0 everywhere: every window's weights added up. Built
        when needed, after the network has run, so it never adds to the peak memory."""
        total = torch.zeros(self.padded_shape)
        for corner in self.corners:
            total[self.window(corner)] += self.weights
        return total


def sliding_window_margins(
    image: torch.Tensor,
    predictor: Callable[[torch.Tensor], torch.Tensor],
    plan: WindowPlan,
    *,
    sw_batch_size: int,
    device: torch.device,
    dtype: torch.dtype = torch.float16,
) -> torch.Tensor:
    """Gaussian-weighted mean of the windows' margins: (classes − 1, *image spatial) on the CPU,
    stored as `dtype` (float16 by default, as nnU-Net stores its logits: half the memory of
    the largest thing the step holds, and label boundaries move by well under a voxel).

    A class's margin is its logit minus the background's. The label is 0 where no margin is
    positive and the class of the largest one otherwise, exactly the argmax of the logits;
    blending and trilinear resampling are linear, so they commute with the subtraction. The
    background channel is then never stored: a quarter less memory for four classes.
    """
    source = F.pad(image, list(plan.padding)) if any(plan.padding) else image
    weights_on_device = plan.weights.to(device)
    blended: torch.Tensor | None = None
    for first in range(0, len(plan.corners), sw_batch_size):
        corners = plan.corners[first : first + sw_batch_size]
        batch = torch.cat([source[(0, slice(None), *plan.window(c))][None] for c in corners])
        # The network always gets float32 (the volume may be held in half precision); AMP
        # gives float16 logits on CUDA.
        logits = predictor(batch.to(device, torch.float32)).float()
        if logits.shape[1] < 2:
            raise UserError(
                f"the network gives {logits.shape[1]} output channel; a segmentation model "
                "needs background plus at least one label"
            )
        margins = logits[:, 1:].sub_(logits[:, :1]).mul_(weights_on_device).to("cpu", dtype)
        if blended is None:
            blended = torch.zeros((margins.shape[1], *plan.padded_shape), dtype=dtype)
        for corner, window_margins in zip(corners, margins, strict=True):
            blended[(slice(None), *plan.window(corner))] += window_margins
        del logits, margins
    assert blended is not None
    # In the blend's own precision: mixing in a float32 operand would make torch build a
    # float32 copy of the whole blend for the result.
    blended.mul_(plan.weight_sum().reciprocal_().to(dtype))
    if any(plan.padding):
        blended = blended[(slice(None), *plan.unpadded())].contiguous()
    return blended


def choose_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is visible in the container")
    return torch.device(requested)


def choose_sw_batch_size(
    device: torch.device, patch_size: Sequence[int], requested: int | None, *, stored: int = 1
) -> int:
    """Windows per forward pass: `requested` when given; on a CUDA GPU what its free memory
    holds; else the bundle's `stored` value (1 unless set: 2 cores gain nothing from more)."""
    if requested:
        return requested
    if device.type != "cuda":
        return stored
    free, _total = torch.cuda.mem_get_info(device)
    voxels = int(torch.tensor(patch_size).prod())
    # ~1 KiB of activations per voxel and window for the default UNet under AMP, measured.
    return int(max(1, min(16, free * 0.5 // (voxels * 1024))))


def predict(
    image: torch.Tensor,
    models: Sequence[torch.nn.Module],
    *,
    patch_size: Sequence[int],
    device: torch.device,
    sw_batch_size: int,
    tta: bool = False,
    overlap: float,
) -> Prediction:
    """Mean margins of every model (× every flip) over `image` (1, C, *S)."""
    flips = TTA_FLIPS if tta else ((),)
    timer = ForwardTimer(device)
    autocast = (
        torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else nullcontext()
    )
    # Flipping does not change the shape, so one plan serves every model and flip.
    plan = WindowPlan.build(image.shape[2:], patch_size, overlap)
    total: torch.Tensor | None = None
    passes = 0
    with torch.no_grad(), autocast:
        for index, model in enumerate(models):
            for axes in flips:
                source = torch.flip(image, axes) if axes else image
                margins = sliding_window_margins(
                    source,
                    timer.wrap(model),
                    plan,
                    sw_batch_size=sw_batch_size,
                    device=device,
                )
                if axes:
                    margins = torch.flip(margins, [a - 1 for a in axes])
                total = margins if total is None else total.add_(margins)
                passes += 1
                log.info(
                    "model %d/%d%s done (%.1f s of forward passes so far)",
                    index + 1,
                    len(models),
                    f", flip {axes}" if axes else "",
                    timer.seconds,
                )
    assert total is not None
    return Prediction(
        margins=total.div_(passes) if passes > 1 else total,
        forward_seconds=timer.seconds,
        passes=passes,
        windows=passes * len(plan.corners),
    )
