"""Our sliding window blends as MONAI's `sliding_window_inference(mode="gaussian")`."""

from __future__ import annotations

import pytest
import torch
from monai.data.utils import dense_patch_slices
from monai.inferers import sliding_window_inference
from monai.inferers.utils import _get_scan_interval

from containers.infer.predict import WindowPlan, predict, sliding_window_margins


def _position_dependent_network() -> torch.nn.Module:
    """Zero-padded convolutions: a voxel's output depends on where its window lies."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv3d(1, 6, 3, padding=1),
        torch.nn.Tanh(),
        torch.nn.Conv3d(6, 4, 3, padding=1),
    ).eval()


CASES = [
    ((40, 35, 30), (16, 16, 16), 0.25, 1),
    ((40, 35, 30), (16, 16, 16), 0.5, 3),
    ((10, 20, 12), (16, 16, 16), 0.25, 2),  # smaller than the window on two axes: padded
    ((16, 33, 17), (16, 16, 8), 0.6, 4),
]


@pytest.mark.parametrize(("shape", "patch", "overlap", "batch"), CASES)
def test_margins_match_monai(shape, patch, overlap, batch):
    network = _position_dependent_network()
    image = torch.randn(1, 1, *shape)
    with torch.no_grad():
        theirs = sliding_window_inference(
            image, patch, batch, network, overlap=overlap, mode="gaussian"
        )
        ours = sliding_window_margins(
            image,
            network,
            WindowPlan.build(shape, patch, overlap),
            sw_batch_size=batch,
            device=torch.device("cpu"),
            dtype=torch.float32,
        )
    assert isinstance(theirs, torch.Tensor)
    torch.testing.assert_close(ours, theirs[0, 1:] - theirs[0, :1], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(("shape", "patch", "overlap", "_batch"), CASES)
def test_window_layout_matches_monai(shape, patch, overlap, _batch):
    plan = WindowPlan.build(shape, patch, overlap)
    padded = plan.padded_shape
    interval = _get_scan_interval(padded, patch, 3, (overlap,) * 3)
    theirs = [
        tuple(s.start for s in window) for window in dense_patch_slices(padded, patch, interval)
    ]
    assert sorted(plan.corners) == sorted(theirs)
    assert bool((plan.weight_sum() > 0).all())


def test_ensemble_and_flips_average_margins():
    network = _position_dependent_network()
    image = torch.randn(1, 1, 24, 20, 18)
    kwargs = {
        "patch_size": (16, 16, 16),
        "device": torch.device("cpu"),
        "sw_batch_size": 2,
        "overlap": 0.25,
    }
    single = predict(image, [network], **kwargs)
    doubled = predict(image, [network, network], **kwargs)
    half = {"atol": 2e-3, "rtol": 1e-2}  # margins are held in float16
    torch.testing.assert_close(doubled.margins, single.margins, **half)
    assert doubled.passes == 2 and single.passes == 1
    flipped = predict(image, [network], tta=True, **kwargs)
    assert flipped.passes == 4
    # Each flip pass is the flipped image's prediction flipped back; TTA is their mean.
    passes = [single.margins]
    for axis in (2, 3, 4):
        mirrored = predict(torch.flip(image, (axis,)), [network], **kwargs).margins
        passes.append(torch.flip(mirrored, (axis - 1,)))
    expected = torch.stack([p.float() for p in passes]).mean(dim=0)
    torch.testing.assert_close(flipped.margins.float(), expected, **half)
    assert not torch.allclose(flipped.margins, single.margins)


def test_half_precision_margins_give_the_same_labels():
    network = _position_dependent_network()
    image = torch.randn(1, 1, 40, 35, 30)
    plan = WindowPlan.build((40, 35, 30), (16, 16, 16), 0.25)
    kwargs = {"sw_batch_size": 2, "device": torch.device("cpu")}
    with torch.no_grad():
        full = sliding_window_margins(image, network, plan, dtype=torch.float32, **kwargs)
        half = sliding_window_margins(image, network, plan, **kwargs)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), full, atol=2e-3, rtol=1e-2)

    def labels(margins: torch.Tensor) -> torch.Tensor:
        scores = torch.cat([torch.zeros_like(margins[:1]), margins.float()])
        return scores.argmax(dim=0)

    assert (labels(half) == labels(full)).float().mean() > 0.999
