"""Small synthetic CT series on disk, axial and oblique (the imaging tests' series)."""

from __future__ import annotations

from tests.imaging.conftest import geometry, labels, phantom, series_dir

__all__ = ["geometry", "labels", "phantom", "series_dir"]
