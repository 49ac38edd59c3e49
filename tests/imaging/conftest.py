"""Small synthetic CT series on disk, axial and oblique."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.imaging.dicom_factory import (
    SeriesGeometry,
    oblique_geometry,
    phantom_labels,
    phantom_volume,
    write_ct_series,
)

SHAPE = (40, 32, 12)


@pytest.fixture
def phantom() -> np.ndarray:
    return phantom_volume(SHAPE)


@pytest.fixture
def labels() -> np.ndarray:
    return phantom_labels(SHAPE)


@pytest.fixture(params=["axial", "oblique"])
def geometry(request: pytest.FixtureRequest) -> SeriesGeometry:
    return SeriesGeometry() if request.param == "axial" else oblique_geometry()


@pytest.fixture
def series_dir(tmp_path: Path, phantom: np.ndarray, geometry: SeriesGeometry) -> Path:
    folder = tmp_path / "DICOM"
    write_ct_series(folder, phantom, geometry)
    return folder
