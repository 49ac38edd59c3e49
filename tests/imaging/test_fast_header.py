"""The fast header scanner agrees with pydicom, and steps aside for what it does not handle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian

from containers.common.dicom_fast_header import WANTED, scan_header
from containers.common.dicom_series import read_series
from tests.imaging.dicom_factory import phantom_volume, write_ct_series


def with_nested_sequence(path: Path, *, implicit: bool = False) -> None:
    """Add an undefined-length sequence (items holding a sequence) before the pixels."""
    ds = pydicom.dcmread(path)
    inner = Dataset()
    inner.CodeValue, inner.CodingSchemeDesignator, inner.CodeMeaning = "1", "DCM", "x"
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    item.PurposeOfReferenceCodeSequence = [inner]
    ds.ReferencedImageSequence = [item, item]
    ds.ImageComments = "RescaleSlope 2 in a comment must not count"
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize("implicit", [False, True])
def test_scanner_reads_the_same_values_as_pydicom(tmp_path: Path, implicit: bool):
    (path,) = write_ct_series(tmp_path, phantom_volume((16, 12, 1)))
    with_nested_sequence(path, implicit=implicit)
    fast = scan_header(path.read_bytes())
    assert fast is not None
    ds = pydicom.dcmread(path)
    for keyword, kind in WANTED.values():
        if keyword in ds:
            expected = ds[keyword].value
            got = fast.values[keyword]
            if kind == "ds" and isinstance(got, list):
                assert got == pytest.approx([float(v) for v in expected])
            elif kind == "ds":
                assert got == pytest.approx(float(expected))
            elif isinstance(got, list):
                assert got == list(expected)
            else:
                assert str(got) == str(expected)
    pixels = np.frombuffer(
        path.read_bytes(), np.int16, count=16 * 12, offset=fast.pixel_offset
    ).reshape(12, 16)
    np.testing.assert_array_equal(pixels, ds.pixel_array)


def test_series_with_sequences_reads_like_the_plain_one(tmp_path: Path):
    volume = phantom_volume((16, 12, 4))
    paths = write_ct_series(tmp_path, volume)
    for path in paths:
        with_nested_sequence(path, implicit=True)
    series = read_series(tmp_path)
    np.testing.assert_array_equal(series.volume, volume.astype(np.float32))
    assert series.first_header.PatientID == "PHANTOM001"


@pytest.mark.parametrize(
    "name", ["MR_small_bigendian.dcm", "MR_small_RLE.dcm", "ExplVR_LitEndNoMeta.dcm"]
)
def test_scanner_declines_what_pydicom_must_read(name: str):
    assert scan_header(Path(get_testdata_file(name)).read_bytes()) is None


def test_scanner_declines_a_truncated_header():
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    assert scan_header(data[:700]) is None
