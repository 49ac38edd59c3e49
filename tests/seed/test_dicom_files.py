"""The CT series and the manual SEG are real DICOM that pydicom and highdicom read back."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from xnat_plugin.sandbox.seed.ct_series import SeriesIdentity, write_ct_series
from xnat_plugin.sandbox.seed.manual_seg import write_manual_seg
from xnat_plugin.sandbox.seed.phantom import make_phantom


def read_volume(files: list[Path]) -> tuple[np.ndarray, list[pydicom.Dataset]]:
    datasets = sorted(
        (pydicom.dcmread(f) for f in files), key=lambda d: float(d.ImagePositionPatient[2])
    )
    volume = np.stack(
        [d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in datasets]
    )
    return volume, datasets


@pytest.mark.parametrize("site", ["SITE_A", "SITE_B", "SITE_C"])
def test_ct_series_reads_back_to_the_phantom_hu(tmp_path: Path, site: str) -> None:
    phantom = make_phantom(4, site)
    files = write_ct_series(phantom, tmp_path, SeriesIdentity.for_subject(4, "SUBJ004", "S"))
    volume, datasets = read_volume(files)
    assert np.array_equal(volume, phantom.hu)
    first = datasets[0]
    assert first.Modality == "CT"
    assert first.Manufacturer == phantom.site.manufacturer
    assert first.ManufacturerModelName == phantom.site.model
    assert first.InstitutionName == phantom.site.institution
    assert [float(v) for v in first.PixelSpacing] == [phantom.spacing_mm[1]] * 2
    assert float(first.SliceThickness) == phantom.spacing_mm[0]
    assert [float(v) for v in first.ImagePositionPatient] == pytest.approx(phantom.origin_mm)
    gaps = np.diff([float(d.ImagePositionPatient[2]) for d in datasets])
    assert np.allclose(gaps, phantom.spacing_mm[0])
    assert len({d.SOPInstanceUID for d in datasets}) == len(datasets)
    assert len({d.SeriesInstanceUID for d in datasets}) == 1


def test_pixel_storage_differs_per_site(tmp_path: Path) -> None:
    unsigned = pydicom.dcmread(write_ct_series(make_phantom(1, "SITE_A"), tmp_path / "a")[0])
    signed = pydicom.dcmread(write_ct_series(make_phantom(1, "SITE_B"), tmp_path / "b")[0])
    assert (unsigned.PixelRepresentation, float(unsigned.RescaleIntercept)) == (0, -1024)
    assert (signed.PixelRepresentation, float(signed.RescaleIntercept)) == (1, 0)


def test_same_subject_gives_the_same_uids() -> None:
    assert SeriesIdentity.for_subject(3, "SUBJ003", "SUBJ003_CT1") == SeriesIdentity.for_subject(
        3, "SUBJ003", "SUBJ003_CT1"
    )
    assert (
        SeriesIdentity.for_subject(3, "SUBJ003", "X").series_uid
        != SeriesIdentity.for_subject(4, "SUBJ003", "X").series_uid
    )


def test_manual_seg_reads_back_onto_the_series_grid(tmp_path: Path) -> None:
    phantom = make_phantom(8, "SITE_B")
    files = write_ct_series(phantom, tmp_path / "ct")
    write_manual_seg(phantom, files, tmp_path / "seg.dcm")
    seg = hd.seg.segread(tmp_path / "seg.dcm")
    _, datasets = read_volume(files)
    mask = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[d.SOPInstanceUID for d in datasets],
        combine_segments=True,
    )
    assert np.array_equal(mask, phantom.labels)


def test_manual_seg_segments_are_coded_and_marked_manual(tmp_path: Path) -> None:
    phantom = make_phantom(8, "SITE_A")
    files = write_ct_series(phantom, tmp_path / "ct")
    write_manual_seg(phantom, files, tmp_path / "seg.dcm")
    seg = hd.seg.segread(tmp_path / "seg.dcm")
    found = {}
    for number in seg.segment_numbers:
        description = seg.get_segment_description(number)
        assert description.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.MANUAL
        assert description.segmented_property_category.value == "123037004"
        found[description.segment_label] = description.segmented_property_type.value
    assert found == {"liver": "10200004", "spleen": "78961009", "kidney": "64033007"}
