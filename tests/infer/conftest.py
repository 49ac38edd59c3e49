"""A small synthetic CT series and a tiny random-init bundle, as the infer step sees them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bundles import tiny_bundle as make_tiny_bundle
from tests.imaging.dicom_factory import oblique_geometry, phantom_volume, write_ct_series


@pytest.fixture
def series_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "input" / "DICOM"
    write_ct_series(folder, phantom_volume((48, 40, 16)), oblique_geometry())
    return folder


@pytest.fixture
def tiny_bundle(tmp_path: Path) -> Path:
    """Two folds of a 2-level UNet, random weights: plumbing, not accuracy."""
    return make_tiny_bundle(
        tmp_path / "models",
        name="tiny_unet",
        folds=2,
        patch_size=(16, 16, 16),
        spacing=(2.0, 2.0, 2.0),
    )


def xnat_arguments(label: str = "S1") -> list[str]:
    return [
        "--session-id", "XNAT_E00001",
        "--project", "LIVER",
        "--subject", "XNAT_S00001",
        "--session-label", label,
    ]  # fmt: skip
