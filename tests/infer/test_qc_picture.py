"""The QC montage: panels at the segmentation's centre, labels in their colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from containers.common.qc_picture import _centre, grey_levels, label_colour, write_qc_montage


def test_centre_is_the_median_labelled_voxel_along_each_axis():
    labels = np.zeros((40, 30, 20), dtype=np.uint8)
    labels[10:13, 5:8, 2:5] = 1
    labels[20:23, 15:18, 14:16] = 2
    labels[30, 25, 19] = 2
    labels[0, 0, 0] = 1
    coordinates = np.nonzero(labels)
    assert len(coordinates[0]) % 2 == 1
    assert _centre(labels) == tuple(int(np.median(c)) for c in coordinates)
    assert _centre(np.zeros((8, 6, 4), dtype=np.uint8)) == (4, 3, 2)


def test_centre_plane_between_two_organs_still_shows_one_of_them():
    labels = np.zeros((20, 20, 40), dtype=np.uint8)
    labels[5:10, 5:10, 2:6] = 1
    labels[5:10, 5:10, 30:34] = 2
    k = _centre(labels)[2]
    assert labels[:, :, k].any()


def test_montage_shows_each_label_in_its_colour(tmp_path: Path):
    volume = np.full((64, 48, 24), -1000.0, dtype=np.float32)  # air: black after windowing
    labels = np.zeros(volume.shape, dtype=np.uint8)
    labels[10:30, 10:30, 6:18] = 1
    labels[40:55, 20:40, 6:18] = 2
    path = write_qc_montage(
        tmp_path / "qc.png", volume, labels, (1.0, 1.0, 2.5), {"liver": 1, "spleen": 2}, title="t"
    )
    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3).astype(int)
    for value in (1, 2):
        # Over black, a label pixel is its colour times the overlay's opacity.
        tint = np.rint(np.asarray(label_colour(value)) * 0.45).astype(int)
        assert (np.abs(pixels - tint).max(axis=1) <= 1).sum() > 500, value


def test_grey_levels_give_the_same_picture_as_the_scan(tmp_path: Path):
    rng = np.random.default_rng(0)
    volume = np.asfortranarray(rng.normal(40, 120, size=(48, 40, 20)).astype(np.float32))
    labels = np.zeros(volume.shape, dtype=np.uint8)
    labels[10:30, 10:30, 5:15] = 1
    grey = grey_levels(volume)
    assert grey.dtype == np.uint8 and grey.flags.f_contiguous
    expected = np.clip(np.rint((volume + 160.0) * 255.0 / 400.0), 0, 255)
    assert np.abs(grey.astype(int) - expected).max() <= 1
    spacing = (1.0, 1.0, 2.0)
    from_scan = write_qc_montage(tmp_path / "a.png", volume, labels, spacing, {"liver": 1})
    from_grey = write_qc_montage(tmp_path / "b.png", grey, labels, spacing, {"liver": 1})
    a = np.asarray(Image.open(from_scan)).astype(int)
    b = np.asarray(Image.open(from_grey)).astype(int)
    assert np.abs(a - b).max() <= 2
