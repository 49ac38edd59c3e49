"""Sliding-window prediction with a fold ensemble and optional flip test-time augmentation.

Returns class probabilities on the model grid, averaged over models and flips, and how long
the network's forward passes took (the rest of the step is measured against that).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from monai.inferers import sliding_window_inference

log = logging.getLogger(__name__)

# Flip TTA over each spatial axis alone (plus none): 4 passes, most of the 8-mirror gain.
TTA_FLIPS: tuple[tuple[int, ...], ...] = ((), (2,), (3,), (4,))


@dataclass
class Prediction:
    probabilities: torch.Tensor  # (classes, *model_shape) float32 on CPU
    forward_seconds: float
    passes: int


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


def _softmax_in_place(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over classes (dim 0) without a second full-size tensor."""
    logits.sub_(logits.amax(dim=0, keepdim=True)).exp_()
    return logits.div_(logits.sum(dim=0, keepdim=True))


def choose_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        from xnat_plugin.errors import UserError

        raise UserError("--device cuda was asked for but no CUDA GPU is visible in the container")
    return torch.device(requested)


def choose_sw_batch_size(
    device: torch.device, patch_size: Sequence[int], requested: int | None
) -> int:
    """Windows per forward pass: what fits the GPU's free memory, 1 on CPU (2 cores gain nothing)."""
    if requested:
        return requested
    if device.type != "cuda":
        return 1
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
    overlap: float = 0.25,
) -> Prediction:
    """Average softmax probabilities of every model (× every flip) over `image` (1, C, *S)."""
    flips = TTA_FLIPS if tta else ((),)
    timer = ForwardTimer(device)
    autocast = (
        torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else nullcontext()
    )
    total: torch.Tensor | None = None
    passes = 0
    # Windows are cut on the CPU tensor and only each batch moves to the device (sw_device):
    # a whole CT at model spacing need not fit in GPU memory.
    with torch.no_grad(), autocast:
        for index, model in enumerate(models):
            for axes in flips:
                source = torch.flip(image, axes) if axes else image
                logits = sliding_window_inference(
                    source,
                    roi_size=list(patch_size),
                    sw_batch_size=sw_batch_size,
                    predictor=timer.wrap(model),
                    overlap=overlap,
                    mode="gaussian",
                    sw_device=device,
                    device=torch.device("cpu"),
                )
                assert isinstance(logits, torch.Tensor)
                probabilities = _softmax_in_place(logits[0].float())
                del logits
                if axes:
                    probabilities = torch.flip(probabilities, [a - 1 for a in axes])
                total = probabilities if total is None else total.add_(probabilities)
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
        probabilities=total.div_(passes), forward_seconds=timer.seconds, passes=passes
    )
