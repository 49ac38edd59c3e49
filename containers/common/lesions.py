"""Lesions as boxes on a scan, and the frame those boxes live in.

The scan frame: millimetres along the series' own voxel axes (i along a row, j down a column,
k along the slices), from the centre of voxel (0, 0, 0); a point's continuous voxel index times
the spacing. A box in this frame stays a box on an oblique series, and `ScanFrame` carries it
to patient coordinates (DICOM LPS, mm) and back. A voxel range `[start, stop)` covers the box
from `(start - 0.5) * spacing` to `(stop - 0.5) * spacing`: the voxels' faces.

A reference label map (a SEG, or an RTSTRUCT filled onto the series, `rtstruct_reader`) gives
one lesion per connected component (26-connected) of each label, with its size: the diameter of
the sphere of the same volume (voxel count × voxel volume), which is what size bins use, and
its extent along each axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from containers.common.metrics.label_boxes import component_boxes


@dataclass(frozen=True)
class ScanFrame:
    affine_lps: np.ndarray  # 4×4: voxel index (i, j, k) → LPS mm
    spacing: tuple[float, float, float]  # mm along i, j, k
    shape: tuple[int, int, int]

    @classmethod
    def of(cls, series: object) -> ScanFrame:
        """The frame of a `dicom_series.Series` (anything with affine_lps, spacing, shape)."""
        return cls(
            np.asarray(series.affine_lps, dtype=np.float64),  # type: ignore[attr-defined,arg-type]
            tuple(float(s) for s in series.spacing),  # type: ignore[attr-defined,arg-type]
            tuple(int(n) for n in series.shape),  # type: ignore[attr-defined,arg-type]
        )

    @property
    def _scale(self) -> np.ndarray:
        return np.asarray(self.spacing, dtype=np.float64)

    def voxel_box_mm(self, start: tuple[int, ...], stop: tuple[int, ...]) -> np.ndarray:
        """The (6,) scan-frame box covering voxels `[start, stop)`."""
        lo = (np.asarray(start, dtype=np.float64) - 0.5) * self._scale
        hi = (np.asarray(stop, dtype=np.float64) - 0.5) * self._scale
        return np.concatenate([lo, hi])

    def index_of_mm(self, points_mm: np.ndarray) -> np.ndarray:
        """Continuous voxel indices of scan-frame points (N, 3)."""
        return np.asarray(points_mm, dtype=np.float64) / self._scale

    def to_lps(self, points_mm: np.ndarray) -> np.ndarray:
        """Scan-frame points (N, 3) in patient LPS mm."""
        index = self.index_of_mm(np.atleast_2d(points_mm))
        return index @ self.affine_lps[:3, :3].T + self.affine_lps[:3, 3]

    def from_lps(self, points_lps: np.ndarray) -> np.ndarray:
        """Patient LPS points (N, 3) in the scan frame."""
        to_index = np.linalg.inv(self.affine_lps)
        index = np.atleast_2d(points_lps) @ to_index[:3, :3].T + to_index[:3, 3]
        return index * self._scale

    def box_corners_lps(self, box_mm: np.ndarray) -> np.ndarray:
        """The 8 corners (8, 3) of a scan-frame box in LPS mm."""
        lo, hi = np.asarray(box_mm[:3]), np.asarray(box_mm[3:])
        corners = np.array([[hi[a] if (n >> a) & 1 else lo[a] for a in range(3)] for n in range(8)])
        return self.to_lps(corners)

    def covered_voxels(self, box_mm: np.ndarray) -> tuple[slice, slice, slice]:
        """The voxels whose centres lie inside a scan-frame box, clipped to the volume."""
        index = self.index_of_mm(np.reshape(box_mm, (2, 3)))
        start = np.clip(np.ceil(index[0] - 1e-6), 0, self.shape).astype(int)
        stop = np.clip(np.floor(index[1] + 1e-6) + 1, 0, self.shape).astype(int)
        return tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))  # type: ignore[return-value]


@dataclass(frozen=True)
class Lesion:
    """One reference lesion: a connected component of a label."""

    label: str
    box_mm: tuple[float, ...]  # scan frame, (lo x3, hi x3)
    centre_lps_mm: tuple[float, float, float]
    extent_mm: tuple[float, float, float]  # along i, j, k
    diameter_mm: float  # of the sphere with the same volume
    volume_mm3: float

    def as_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "box_mm": [round(v, 3) for v in self.box_mm],
            "centre_lps_mm": [round(v, 3) for v in self.centre_lps_mm],
            "extent_mm": [round(v, 3) for v in self.extent_mm],
            "diameter_mm": round(self.diameter_mm, 3),
            "volume_mm3": round(self.volume_mm3, 3),
        }


def sphere_diameter_mm(volume_mm3: float) -> float:
    return (6.0 * volume_mm3 / math.pi) ** (1.0 / 3.0)


def lesions_from_label_map(
    array: np.ndarray, labels: Mapping[str, int], frame: ScanFrame
) -> list[Lesion]:
    """One lesion per connected component of every label in `labels` (name → value)."""
    voxel_mm3 = float(np.prod(frame.spacing))
    lesions = []
    for name, value in labels.items():
        for component in component_boxes(array == value):
            box = frame.voxel_box_mm(component.box.start, component.box.stop)
            centre = frame.to_lps((box[:3] + box[3:]) / 2)[0]
            volume = component.voxels * voxel_mm3
            lesions.append(
                Lesion(
                    label=name,
                    box_mm=tuple(float(v) for v in box),
                    centre_lps_mm=tuple(float(v) for v in centre),  # type: ignore[arg-type]
                    extent_mm=tuple(float(v) for v in box[3:] - box[:3]),  # type: ignore[arg-type]
                    diameter_mm=sphere_diameter_mm(volume),
                    volume_mm3=volume,
                )
            )
    return lesions
