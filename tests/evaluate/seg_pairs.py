"""A tiny CT series on disk with a manual SEG and a perturbed AI SEG of the phantom organs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from containers.common.dicom_series import Series, read_series
from containers.common.seg_writer import SegAlgorithm, write_seg
from tests.imaging.dicom_factory import phantom_labels, phantom_volume, write_ct_series

LABELS = {"liver": 1, "spleen": 2, "kidney": 3}
SHAPE = (32, 28, 12)


@dataclass
class SegCase:
    dicom_dir: Path
    series: Series
    reference: np.ndarray
    prediction: np.ndarray
    reference_seg: Path
    prediction_seg: Path


def perturbed(labels: np.ndarray, seed: int) -> np.ndarray:
    """The label map shifted by one voxel in-plane, with the kidney dropped on odd seeds."""
    rng = np.random.default_rng(seed)
    shift = int(rng.integers(1, 3))
    moved = np.roll(labels, shift, axis=0)
    if seed % 2:
        moved[moved == 3] = 0
    return moved


def write_seg_case(folder: Path, seed: int = 0, *, series_dir: Path | None = None) -> SegCase:
    dicom_dir = series_dir or folder / "DICOM"
    if series_dir is None:
        write_ct_series(dicom_dir, phantom_volume(SHAPE, seed))
    series = read_series(dicom_dir)
    reference = phantom_labels(SHAPE)
    prediction = perturbed(reference, seed)
    reference_seg = write_seg(
        folder / "manual" / "seg.dcm", reference, series, LABELS, algorithm=SegAlgorithm("MANUAL")
    ).path
    # The AI SEG numbers its segments in another order: readers must match by name.
    ai_labels = {"spleen": 1, "kidney": 2, "liver": 3}
    relabelled = np.zeros_like(prediction)
    for name, value in LABELS.items():
        relabelled[prediction == value] = ai_labels[name]
    prediction_seg = write_seg(
        folder / "ai" / "seg.dcm",
        relabelled,
        series,
        ai_labels,
        algorithm=SegAlgorithm("AUTOMATIC", "spleen_ct", "1.0"),
    ).path
    return SegCase(dicom_dir, series, reference, prediction, reference_seg, prediction_seg)
