"""The SEG's frames built directly: same file as highdicom's, same bits as a plain mask."""

from __future__ import annotations

import io
import re
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from containers.common.bundle import default_segment_codes
from containers.common.dicom_series import read_series
from containers.common.seg_frames import binary_frames
from containers.common.seg_reader import read_seg
from containers.common.seg_writer import SegAlgorithm, _segment_description, write_seg
from tests.imaging.dicom_factory import phantom_labels, phantom_volume, write_ct_series

# Values that differ between any two SEGs: fresh UIDs, creation times.
_FRESH = re.compile(r"UI: 1\.2\.826\.0\.1\.3680043\.10\.511\S*|DT: '[\d.]+'|\d{6}\.\d{6}")


def _highdicom_seg(
    series_dir: Path, label_map: np.ndarray, labels: dict[str, int]
) -> pydicom.Dataset:
    """What highdicom writes given every source image and our segment descriptions."""
    series = read_series(series_dir)
    numbers = np.zeros(256, dtype=np.uint8)
    for n, value in enumerate(sorted(labels.values()), start=1):
        numbers[value] = n
    ordered = sorted(labels.items(), key=lambda item: item[1])
    algorithm = SegAlgorithm(name="m", version="1")
    seg = hd.seg.Segmentation(
        source_images=[pydicom.dcmread(p, stop_before_pixels=True) for p in series.paths],
        pixel_array=np.ascontiguousarray(numbers[label_map].transpose(2, 1, 0)),
        segmentation_type="BINARY",
        segment_descriptions=[
            _segment_description(n, name, default_segment_codes(name), algorithm)
            for n, (name, _value) in enumerate(ordered, start=1)
        ],
        series_instance_uid=hd.UID(),
        series_number=900,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="xnat-monai",
        manufacturer_model_name="m",
        software_versions="0.1.0",
        device_serial_number="0",
        series_description="MONAI segmentation",
        content_label="SEGMENTATION",
        content_description="MONAI segmentation",
    )
    buffer = io.BytesIO()
    seg.save_as(buffer)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def _attributes(ds: pydicom.Dataset) -> dict[str, str]:
    """Every top-level attribute as text (nested sequences included), fresh values masked."""
    skip = {"PixelData", "SOPInstanceUID", "SeriesInstanceUID"}
    return {
        kw: _FRESH.sub("*", str(ds.data_element(kw).value)) for kw in ds.dir() if kw not in skip
    }


@pytest.mark.parametrize(
    "labels", [{"liver": 1, "spleen": 2, "kidney": 3}, {"kidney": 3}], ids=["three", "one"]
)
def test_seg_is_highdicoms_seg_attribute_for_attribute_and_pixel_for_pixel(
    tmp_path: Path, series_dir: Path, labels: dict[str, int]
):
    series = read_series(series_dir)
    label_map = phantom_labels(series.shape)
    label_map[~np.isin(label_map, list(labels.values()))] = 0
    ours = pydicom.dcmread(
        write_seg(
            tmp_path / "ours.dcm",
            label_map,
            series,
            labels,
            algorithm=SegAlgorithm("AUTOMATIC", "m", "1"),
        ).path
    )
    theirs = _highdicom_seg(series_dir, label_map, labels)
    assert ours.NumberOfFrames == theirs.NumberOfFrames > 0
    assert _attributes(ours) == _attributes(theirs)
    np.testing.assert_array_equal(ours.pixel_array, theirs.pixel_array)


def test_frames_whose_size_is_not_a_multiple_of_8_pixels_are_packed_back_to_back(tmp_path: Path):
    shape = (13, 11, 6)  # 143 pixels a frame: frames share bytes in the packed pixel data
    write_ct_series(tmp_path / "DICOM", phantom_volume(shape))
    series = read_series(tmp_path / "DICOM")
    label_map = np.zeros(shape, dtype=np.uint8)
    label_map[2:9, 3:8, 1:4] = 1
    label_map[5:12, 1:6, 3:6] = 2
    labels = {"liver": 1, "spleen": 2}
    written = write_seg(tmp_path / "seg.dcm", label_map, series, labels)
    ours = pydicom.dcmread(written.path)
    theirs = _highdicom_seg(tmp_path / "DICOM", label_map, labels)
    assert written.frames == theirs.NumberOfFrames == 3 + 3
    assert ours.PixelData[: len(theirs.PixelData) - 1] == theirs.PixelData[:-1]
    np.testing.assert_array_equal(read_seg(written.path, series).array, label_map)


@pytest.mark.parametrize("values", [[1, 2, 3, 4, 5], [2, 7], [3, 200]])
def test_packed_masks_equal_numpy_packbits_of_each_value_and_ignore_other_values(values: list[int]):
    rng = np.random.default_rng(1)
    frames = rng.choice([0, *values, 6, 9, 250], size=(5, 16, 24)).astype(np.uint8)
    frames[0] = 0  # an empty slice
    frames[4] = 9  # a slice of a value that is no segment
    positions = np.c_[np.zeros(5), np.zeros(5), -np.arange(5.0)]  # along highdicom's normal
    built = binary_frames(frames, values, positions, (1, 0, 0, 0, 1, 0))
    expected = [
        np.packbits(frames[k] == v, bitorder="little").tobytes()
        for v in values
        for k in range(5)
        if np.any(frames[k] == v)
    ]
    assert built.pixel_data == b"".join(expected)
    assert 0 not in built.slices.tolist() and 4 not in built.slices.tolist()
    assert built.plane_ranks.tolist() == [k for k in built.slices.tolist()]  # slices 1..3 → 1..3


def test_slices_go_along_highdicoms_volume_normal_whichever_way_the_series_runs():
    frames = np.zeros((4, 8, 8), dtype=np.uint8)
    frames[1:, 2, 2] = 1
    # For axial images highdicom's volume normal (column × row, its index convention) points
    # to the feet, so a series climbing towards the head is stored last slice first.
    positions = np.c_[np.zeros(4), np.zeros(4), np.arange(4.0)]
    built = binary_frames(frames, [1], positions, (1, 0, 0, 0, 1, 0))
    assert built.slices.tolist() == [3, 2, 1]
    assert built.plane_ranks.tolist() == [1, 2, 3]
