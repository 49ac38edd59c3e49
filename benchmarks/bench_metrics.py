"""Our whole metric set vs MONAI's metric classes and vs DeepMind's `surface-distance`.

One pair of 5-label CT-sized label maps (512×512×200, spacing 0.8×0.8×2.5 mm; quick: a smaller
pair), the same pair for all three in one run. Goals: ours ≤ 0.15 × MONAI's time, faster than
`surface-distance`, the same numbers as MONAI (whose definitions we follow), and a peak of our
own allocations ≤ 1.5 × the two volumes as float32.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from benchmarks.harness import BenchResult, peak_python_memory, stopwatch

log = logging.getLogger("benchmarks.metrics")

SPACING = (0.8, 0.8, 2.5)
TOLERANCE_MM = 2.0
ORGANS = {  # name: (value, centre as fraction of the shape, radii in mm)
    "liver": (1, (0.35, 0.6, 0.5), (90.0, 70.0, 80.0)),
    "spleen": (2, (0.7, 0.65, 0.5), (45.0, 35.0, 50.0)),
    "kidney_left": (3, (0.6, 0.3, 0.45), (30.0, 25.0, 45.0)),
    "kidney_right": (4, (0.4, 0.3, 0.45), (30.0, 25.0, 45.0)),
    "pancreas": (5, (0.5, 0.45, 0.55), (50.0, 15.0, 20.0)),
}


def _paint_ellipsoid(volume: np.ndarray, value: int, centre: np.ndarray, radii: np.ndarray) -> None:
    spacing = np.asarray(SPACING)
    low = np.maximum(((centre - radii) / spacing).astype(int), 0)
    high = np.minimum(((centre + radii) / spacing).astype(int) + 2, volume.shape)
    axes = np.ogrid[tuple(slice(a, b) for a, b in zip(low, high, strict=True))]
    inside = sum(
        ((ax * s - c) / r) ** 2 for ax, s, c, r in zip(axes, spacing, centre, radii, strict=True)
    )
    region = volume[tuple(slice(a, b) for a, b in zip(low, high, strict=True))]
    region[inside <= 1.0] = value


def make_pair(shape: tuple[int, int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A reference with five ellipsoid organs and a prediction shifted, resized, with strays."""
    rng = np.random.default_rng(seed)
    scale = shape[0] / 512
    extent = np.asarray(shape) * np.asarray(SPACING)
    reference = np.zeros(shape, np.uint8)
    prediction = np.zeros(shape, np.uint8)
    for value, centre_fraction, radii_mm in ORGANS.values():
        centre = np.asarray(centre_fraction) * extent
        radii = np.asarray(radii_mm) * scale
        _paint_ellipsoid(reference, value, centre, radii)
        shift = rng.normal(0.0, 2.0, 3)
        _paint_ellipsoid(prediction, value, centre + shift, radii * rng.uniform(0.93, 1.07, 3))
        for _ in range(2):  # stray false positives far from the organ
            stray = rng.uniform(0.05, 0.95, 3) * extent
            _paint_ellipsoid(prediction, value, stray, np.full(3, 3.0))
    return reference, prediction


def _ours(reference: np.ndarray, prediction: np.ndarray, labels: dict[str, int]) -> dict:
    from containers.common.metrics import compute_label_metrics

    result = compute_label_metrics(reference, prediction, SPACING, labels, TOLERANCE_MM)
    return {
        name: (m.dice, m.hausdorff95_mm, m.assd_mm, m.surface_dice) for name, m in result.items()
    }


def _monai(reference: np.ndarray, prediction: np.ndarray, labels: dict[str, int]) -> dict:
    import torch
    from monai.metrics import (
        DiceMetric,
        HausdorffDistanceMetric,
        SurfaceDiceMetric,
        SurfaceDistanceMetric,
    )

    values = sorted(labels.values())

    def one_hot(volume: np.ndarray) -> torch.Tensor:
        return torch.stack([torch.from_numpy(volume == v) for v in [0, *values]]).float()[None]

    y, y_pred = one_hot(reference), one_hot(prediction)
    dice = DiceMetric(include_background=False)(y_pred, y)
    hd95 = HausdorffDistanceMetric(percentile=95)(y_pred, y, spacing=SPACING)
    assd = SurfaceDistanceMetric(symmetric=True)(y_pred, y, spacing=SPACING)
    nsd = SurfaceDiceMetric([TOLERANCE_MM] * len(values))(y_pred, y, spacing=SPACING)
    return {
        name: tuple(float(t[0, values.index(v)]) for t in (dice, hd95, assd, nsd))
        for name, v in labels.items()
    }


def _surface_distance(
    reference: np.ndarray, prediction: np.ndarray, labels: dict[str, int]
) -> dict:
    import surface_distance as sd

    out = {}
    for name, value in labels.items():
        ref, pred = reference == value, prediction == value
        distances = sd.compute_surface_distances(ref, pred, SPACING)
        to_pred, to_ref = sd.compute_average_surface_distance(distances)
        out[name] = (
            sd.compute_dice_coefficient(ref, pred),
            sd.compute_robust_hausdorff(distances, 95),
            (to_pred + to_ref) / 2,
            sd.compute_surface_dice_at_tolerance(distances, TOLERANCE_MM),
        )
    return out


def _largest_difference(a: dict, b: dict) -> float:
    return max(abs(x - y) for name in a for x, y in zip(a[name], b[name], strict=True))


def run(quick: bool) -> list[BenchResult]:
    shape = (256, 256, 100) if quick else (512, 512, 200)
    reference, prediction = make_pair(shape)
    labels = {name: value for name, (value, _, _) in ORGANS.items()}
    size = f"{shape[0]}×{shape[1]}×{shape[2]}, 5 labels"

    with stopwatch() as elapsed:
        ours = _ours(reference, prediction, labels)
    ours_s = elapsed()
    _, ours_peak = peak_python_memory(lambda: _ours(reference, prediction, labels))
    log.info("ours: %.2f s, peak %.0f MB", ours_s, ours_peak / 1e6)

    with stopwatch() as elapsed:
        monai = _monai(reference, prediction, labels)
    monai_s = elapsed()
    log.info("MONAI: %.2f s", monai_s)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with stopwatch() as elapsed:
            deepmind = _surface_distance(reference, prediction, labels)
        deepmind_s = elapsed()
    log.info("surface-distance: %.2f s", deepmind_s)

    monai_gap = _largest_difference(ours, monai)
    deepmind_dice_gap = max(abs(ours[n][0] - deepmind[n][0]) for n in labels)
    both_float32 = 2 * reference.size * 4
    return [
        BenchResult(
            "metrics: ours vs MONAI metric classes",
            ours_s,
            monai_s,
            "<=0.15",
            note=f"{size}; max |Δ| Dice/HD95/ASSD/NSD vs MONAI {monai_gap:.2e}",
        ),
        BenchResult(
            "metrics: ours vs surface-distance",
            ours_s,
            deepmind_s,
            "<1",
            note=f"{size}; Dice |Δ| {deepmind_dice_gap:.1e} (surfaces differ by design)",
        ),
        BenchResult(
            "metrics: peak memory vs two volumes as float32",
            ours_peak / 1e6,
            both_float32 / 1e6,
            "<=1.5",
            unit="MB",
            note=size,
        ),
    ]
