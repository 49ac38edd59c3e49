"""Large synthetic CT series and 5-label masks for the imaging benchmarks, built slice by slice.

`tests/imaging/dicom_factory` builds small volumes with 3-D meshgrids; at 512×512×200 that
would take gigabytes, so the benchmarks draw each slice on its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.imaging.dicom_factory import SeriesGeometry, write_ct_series

# Five organs as (centre x, centre y, centre z, radius) in [-1, 1] units.
BLOBS = ((-0.35, 0.0, 0.0, 0.35), (0.4, -0.2, 0.1, 0.2), (0.1, 0.45, -0.2, 0.15),
         (-0.2, -0.5, 0.3, 0.12), (0.5, 0.4, -0.4, 0.1))  # fmt: skip


def blob_labels(shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 (columns, rows, slices) with labels 1..5, Fortran order like a read series."""
    labels = np.zeros(shape, dtype=np.uint8, order="F")
    x = np.linspace(-1, 1, shape[0], dtype=np.float32)[:, None]
    y = np.linspace(-1, 1, shape[1], dtype=np.float32)[None, :]
    for k, z in enumerate(np.linspace(-1, 1, shape[2], dtype=np.float32)):
        plane = labels[:, :, k]
        for value, (cx, cy, cz, r) in enumerate(BLOBS, start=1):
            plane[(x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 < r * r] = value
    return labels


def ct_volume(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """int16 HU (columns, rows, slices): air, a body ellipse, organs, noise."""
    rng = np.random.default_rng(seed)
    labels = blob_labels(shape)
    x = np.linspace(-1, 1, shape[0], dtype=np.float32)[:, None]
    y = np.linspace(-1, 1, shape[1], dtype=np.float32)[None, :]
    body = (x**2 / 0.9 + y**2 / 0.7) < 1
    organ_hu = np.array([40, 60, 110, 150, 30, 90], dtype=np.int16)
    volume = np.empty(shape, dtype=np.int16, order="F")
    for k in range(shape[2]):
        plane = np.where(body, organ_hu[labels[:, :, k]], -1000).astype(np.int16)
        plane += rng.integers(-15, 15, size=plane.shape, dtype=np.int16)
        volume[:, :, k] = plane
    return volume


def write_benchmark_series(folder: Path, shape: tuple[int, int, int]) -> Path:
    """Write (once) a CT series of `shape` into `folder`; reuse it if already there."""
    if folder.is_dir() and len(list(folder.glob("*.dcm"))) == shape[2]:
        return folder
    geometry = SeriesGeometry(origin=(-200.0, -180.0, -300.0), spacing=(0.78, 0.78, 1.5))
    write_ct_series(folder, ct_volume(shape), geometry)
    return folder
