"""Load a label map for local mode: a NIfTI file, or a DICOM SEG read onto its image series.

Each source becomes a `GriddedLabels`: an integer array, the voxel → RAS mm affine, the spacing
along each array axis, and the label names found in the file (when it names them).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass
class GriddedLabels:
    array: np.ndarray
    affine: np.ndarray  # 4×4 voxel → RAS mm
    labels: dict[str, int] = field(default_factory=dict)  # names the file itself gives
    source: str = ""
    series_instance_uid: str = ""

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def load_nifti_labels(path: Path) -> GriddedLabels:
    from containers.common.nifti_io import read_nifti

    volume = read_nifti(path, dtype=np.float32)
    data = volume.array
    rounded = np.rint(data)
    if data.size and (
        not np.array_equal(rounded, data) or rounded.min() < 0 or rounded.max() > 255
    ):
        raise UserError(
            f"{path} does not hold integer labels 0..255: pass a label map, not an image or "
            "probabilities"
        )
    return GriddedLabels(rounded.astype(np.uint8), volume.affine, source=str(path))


def load_seg_labels(
    path: Path, image_dir: Path | None, labels: Mapping[str, int] | None = None
) -> GriddedLabels:
    """A DICOM SEG (a file, or a folder holding one) read onto the series in `image_dir`.

    With `labels` (name → value) segments are matched by name, so two SEGs that number their
    segments differently still give the same value to the same organ.
    """
    from containers.common.dicom_series import read_series
    from containers.common.seg_reader import find_seg_file, read_seg

    if image_dir is None:
        raise UserError(
            f"{path} is a DICOM SEG: pass --image with the DICOM folder of the series it segments"
        )
    seg_file = find_seg_file(path) if path.is_dir() else path
    series = read_series(image_dir)
    label_map = read_seg(seg_file, series, labels=labels)
    return GriddedLabels(
        label_map.array,
        np.asarray(series.affine, float),
        dict(label_map.labels),
        source=str(seg_file),
        series_instance_uid=series.series_instance_uid,
    )


def load_labels(
    path: Path, image_dir: Path | None = None, labels: Mapping[str, int] | None = None
) -> GriddedLabels:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist: check the --reference/--prediction path")
    if is_nifti(path):
        return load_nifti_labels(path)
    return load_seg_labels(path, image_dir, labels)
