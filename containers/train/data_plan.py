"""What the data says about preprocessing: target spacing and the intensity window.

Like nnU-Net's fingerprint: the median voxel spacing of the training images becomes the model's
spacing, and the 0.5th–99.5th percentiles of the intensities inside the reference labels become
the CT window. Both are recorded in the bundle so inference preprocesses the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import nibabel.orientations as nio
import numpy as np
import torch

from containers.common.bundle import CTWindow
from containers.common.resample import GridMapping, plan_grid, to_model_grid
from containers.train.cases import TrainingCase

ORIENTATION = "RAS"
# Foreground voxels sampled per case for the percentiles: enough for stable estimates, cheap.
_SAMPLES_PER_CASE = 100_000


@dataclass(frozen=True)
class DataPlan:
    spacing: tuple[float, float, float]
    window: CTWindow
    orientation: str = ORIENTATION

    def as_dict(self) -> dict[str, object]:
        return {
            "spacing_mm": list(self.spacing),
            "orientation": self.orientation,
            "intensity_window": {"a_min": self.window.a_min, "a_max": self.window.a_max},
            "intensity_source": "0.5/99.5 percentiles of foreground (labelled) voxels",
        }


def plan_from_cases(cases: Sequence[TrainingCase], seed: int = 0) -> DataPlan:
    spacings = np.array([_ras_spacing(case) for case in cases])
    spacing = tuple(float(round(s, 3)) for s in np.median(spacings, axis=0))
    rng = np.random.default_rng(seed)
    samples = []
    for case in cases:
        foreground = case.image[case.label > 0]
        if foreground.size > _SAMPLES_PER_CASE:
            foreground = rng.choice(foreground, _SAMPLES_PER_CASE, replace=False)
        samples.append(foreground)
    values = np.concatenate(samples) if samples else np.zeros(1, dtype=np.float32)
    low, high = np.percentile(values, [0.5, 99.5]) if values.size else (-175.0, 250.0)
    if high <= low:
        high = low + 1.0
    window = CTWindow(a_min=float(round(low, 1)), a_max=float(round(high, 1)))
    return DataPlan(spacing=(spacing[0], spacing[1], spacing[2]), window=window)


def _ras_spacing(case: TrainingCase) -> tuple[float, float, float]:
    """Voxel spacing along the RAS-reoriented axes (so medians compare like with like)."""
    ornt = nio.io_orientation(case.affine)
    spacing = [0.0, 0.0, 0.0]
    for axis, (new_axis, _flip) in enumerate(ornt):
        spacing[int(new_axis)] = case.spacing[axis]
    return (spacing[0], spacing[1], spacing[2])


def image_to_model_grid(case: TrainingCase, plan: DataPlan) -> tuple[torch.Tensor, GridMapping]:
    """(1, X, Y, Z) float32 image on the model grid, normalised as inference will do it."""
    mapping = plan_grid(case.image.shape, case.affine, plan.spacing, plan.orientation)
    hounsfield = to_model_grid(case.image, mapping)[0]
    return torch.from_numpy(plan.window.apply(hounsfield.numpy())), mapping


def label_to_model_grid(label: np.ndarray, mapping: GridMapping) -> torch.Tensor:
    """(1, X, Y, Z) label map on the model grid, nearest voxel with corners kept in place."""
    reoriented = np.asarray(nio.apply_orientation(label, mapping.ornt))
    index = [
        np.round(np.linspace(0, n_in - 1, n_out)).astype(np.int64)
        for n_in, n_out in zip(reoriented.shape, mapping.model_shape, strict=True)
    ]
    picked = reoriented[np.ix_(index[0], index[1], index[2])]
    return torch.from_numpy(np.ascontiguousarray(picked, dtype=np.uint8))[None]
