"""The sandbox's synthetic CT and manual SEG read back through our readers, voxel for voxel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from containers.common.dicom_series import read_series
from containers.common.seg_reader import read_seg
from xnat_plugin.sandbox.seed.ct_series import write_ct_series
from xnat_plugin.sandbox.seed.manual_seg import write_manual_seg
from xnat_plugin.sandbox.seed.phantom import make_phantom


@pytest.mark.parametrize("site", ["SITE_A", "SITE_B", "SITE_C"])
def test_seeded_series_and_manual_seg_match_the_phantom(tmp_path: Path, site: str):
    phantom = make_phantom(7, site, matrix=48, slices=20)
    files = write_ct_series(phantom, tmp_path / "DICOM")
    write_manual_seg(phantom, files, tmp_path / "seg.dcm")

    series = read_series(tmp_path / "DICOM")
    # Phantom arrays are (slices, rows, columns) feet → head; ours are (columns, rows, slices).
    np.testing.assert_array_equal(series.volume, phantom.hu.transpose(2, 1, 0))
    assert series.spacing == pytest.approx(phantom.spacing_mm[::-1])

    manual = read_seg(tmp_path / "seg.dcm", series, labels={"liver": 1, "spleen": 2, "kidney": 3})
    np.testing.assert_array_equal(manual.array, phantom.labels.transpose(2, 1, 0))
    assert manual.algorithm_types == {"MANUAL"}
