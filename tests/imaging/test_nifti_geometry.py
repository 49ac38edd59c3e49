"""NIfTI written from a DICOM series lands where the DICOM says, in RAS."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import nibabel.testing
import numpy as np
import pytest

from containers.common.dicom_series import read_series
from containers.common.nifti_io import read_nifti, write_nifti
from xnat_plugin.errors import UserError


def test_nifti_from_series_has_the_dicom_world_coordinates(tmp_path: Path, series_dir: Path):
    series = read_series(series_dir)
    path = write_nifti(tmp_path / "ct.nii.gz", series.volume, series.affine)
    image = nib.load(path)
    for k in (0, series.shape[2] // 2, series.shape[2] - 1):
        lps = np.asarray(series.headers[k].ImagePositionPatient, dtype=float)
        ras = image.affine @ np.array([0, 0, k, 1.0])
        np.testing.assert_allclose(ras[:3], [-lps[0], -lps[1], lps[2]], atol=1e-4)
    # the qform (what some viewers use) agrees with the sform
    np.testing.assert_allclose(image.get_qform(), image.get_sform(), atol=1e-4)
    np.testing.assert_array_equal(read_nifti(path).array, series.volume)


def test_label_map_round_trips_as_uint8(tmp_path: Path, labels: np.ndarray):
    path = write_nifti(tmp_path / "seg.nii.gz", labels, np.eye(4), dtype=np.uint8)
    assert nib.load(path).get_data_dtype() == np.uint8
    np.testing.assert_array_equal(read_nifti(path, dtype=np.uint8).array, labels)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_written_file_is_what_nibabel_itself_writes(tmp_path: Path, labels: np.ndarray, suffix):
    """Our .nii.gz (ISA-L) decompresses to the bytes of nibabel's own uncompressed file."""
    import gzip

    ours = write_nifti(tmp_path / f"ours{suffix}", labels, np.eye(4), dtype=np.uint8)
    image = nib.Nifti1Image(labels.astype(np.uint8), np.eye(4))
    image.set_sform(np.eye(4), code=1)
    image.set_qform(np.eye(4), code=1)
    image.header.set_slope_inter(1, 0)
    nib.save(image, tmp_path / "theirs.nii")
    raw = ours.read_bytes()
    if suffix == ".nii.gz":
        assert raw[:2] == b"\x1f\x8b"  # gzip, readable by any NIfTI tool
        raw = gzip.decompress(raw)
    assert raw == (tmp_path / "theirs.nii").read_bytes()


def test_nibabel_sample_reads_with_its_spacing():
    volume = read_nifti(os.path.join(nibabel.testing.data_path, "anatomical.nii"))
    assert volume.array.shape == (33, 41, 25)
    assert volume.spacing == pytest.approx((2.0, 2.0, 2.0))


def test_four_d_nifti_is_refused():
    with pytest.raises(UserError, match="expected one 3-D volume"):
        read_nifti(os.path.join(nibabel.testing.data_path, "example4d.nii.gz"))
