"""DICOM SEG out and back in: same voxels, right identification, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from containers.common.dicom_series import read_series
from containers.common.seg_reader import find_seg_file, read_seg
from containers.common.seg_writer import SegAlgorithm, write_seg
from tests.imaging.dicom_factory import phantom_volume, write_ct_series
from xnat_plugin.errors import UserError

LABELS = {"liver": 1, "spleen": 2, "kidney": 3}


def test_seg_reads_back_to_the_same_mask_voxel_for_voxel(
    tmp_path: Path, series_dir: Path, labels: np.ndarray
):
    series = read_series(series_dir)
    written = write_seg(tmp_path / "seg.dcm", labels, series, LABELS)
    back = read_seg(written.path, series)
    np.testing.assert_array_equal(back.array, labels)
    assert back.labels == LABELS
    assert back.sop_instance_uid == written.sop_instance_uid


def test_seg_stores_only_non_empty_frames(tmp_path: Path, series_dir: Path, labels: np.ndarray):
    series = read_series(series_dir)
    written = write_seg(tmp_path / "seg.dcm", labels, series, LABELS)
    expected = sum(
        int(np.any(labels[:, :, k] == v)) for v in LABELS.values() for k in range(labels.shape[2])
    )
    assert written.frames == expected < 3 * labels.shape[2]


def test_automatic_seg_names_the_model_and_manual_seg_does_not(
    tmp_path: Path, series_dir: Path, labels: np.ndarray
):
    series = read_series(series_dir)
    ai = write_seg(
        tmp_path / "ai.dcm",
        labels,
        series,
        LABELS,
        algorithm=SegAlgorithm(name="liver3", version="2.1"),
    )
    manual = write_seg(tmp_path / "m.dcm", labels, series, LABELS, algorithm=SegAlgorithm("MANUAL"))
    ai_ds, manual_ds = pydicom.dcmread(ai.path), pydicom.dcmread(manual.path)
    segment = ai_ds.SegmentSequence[0]
    assert segment.SegmentAlgorithmType == "AUTOMATIC"
    assert segment.SegmentAlgorithmName == "liver3"
    assert segment.SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"  # SNOMED liver
    assert manual_ds.SegmentSequence[0].SegmentAlgorithmType == "MANUAL"
    assert read_seg(manual.path, series).algorithm_types == {"MANUAL"}
    assert ai_ds.ReferencedSeriesSequence[0].SeriesInstanceUID == series.series_instance_uid


def test_labels_are_matched_by_name_when_the_caller_numbers_them_differently(
    tmp_path: Path, series_dir: Path, labels: np.ndarray
):
    series = read_series(series_dir)
    write_seg(tmp_path / "seg.dcm", labels, series, LABELS)
    back = read_seg(tmp_path / "seg.dcm", series, labels={"Kidney": 1, "liver": 2})
    np.testing.assert_array_equal(back.array == 1, labels == 3)
    np.testing.assert_array_equal(back.array == 2, labels == 1)
    assert not np.any(back.array == 3)


def test_seg_of_another_series_is_refused(tmp_path: Path, series_dir: Path, labels: np.ndarray):
    series = read_series(series_dir)
    write_seg(tmp_path / "seg.dcm", labels, series, LABELS)
    write_ct_series(tmp_path / "other", phantom_volume(series.shape))
    other = read_series(tmp_path / "other")
    with pytest.raises(UserError, match="segments series .* not the image series"):
        read_seg(tmp_path / "seg.dcm", other)


def test_seg_whose_frames_sit_between_slices_is_refused(
    tmp_path: Path, series_dir: Path, labels: np.ndarray
):
    series = read_series(series_dir)
    write_seg(tmp_path / "seg.dcm", labels, series, LABELS)
    ds = pydicom.dcmread(tmp_path / "seg.dcm")
    del ds.ReferencedSeriesSequence
    for frame in ds.PerFrameFunctionalGroupsSequence:
        del frame.DerivationImageSequence
        position = frame.PlanePositionSequence[0].ImagePositionPatient
        frame.PlanePositionSequence[0].ImagePositionPatient = [
            float(v) + 0.5 * float(n) * series.spacing[2]
            for v, n in zip(
                position, np.cross(series.orientation[:3], series.orientation[3:]), strict=True
            )
        ]
    ds.save_as(tmp_path / "shifted.dcm")
    with pytest.raises(UserError, match="does not lie on a slice"):
        read_seg(tmp_path / "shifted.dcm", series)


def test_a_file_that_is_not_a_seg_is_refused(series_dir: Path):
    series = read_series(series_dir)
    with pytest.raises(UserError, match="not a readable DICOM SEG"):
        read_seg(series.paths[0], series)


def test_label_map_with_other_shape_is_refused_before_writing(tmp_path: Path, series_dir: Path):
    series = read_series(series_dir)
    with pytest.raises(UserError, match="differs from series shape"):
        write_seg(tmp_path / "s.dcm", np.zeros((3, 3, 3), np.uint8), series, LABELS)


def test_the_seg_resource_must_hold_exactly_one_file(tmp_path: Path):
    with pytest.raises(UserError, match="no DICOM SEG file"):
        find_seg_file(tmp_path)
    (tmp_path / "a.dcm").write_bytes(b"x")
    (tmp_path / "b.dcm").write_bytes(b"x")
    with pytest.raises(UserError, match="expected one SEG"):
        find_seg_file(tmp_path)


def test_seg_frames_and_references_match_highdicom_given_every_source_image(
    tmp_path: Path, series_dir: Path, labels: np.ndarray
):
    import io

    import highdicom as hd

    from containers.common.seg_writer import _segment_description, default_segment_codes

    series = read_series(series_dir)
    ours = pydicom.dcmread(write_seg(tmp_path / "ours.dcm", labels, series, LABELS).path)
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in series.paths]
    descriptions = [
        _segment_description(v, n, default_segment_codes(n), SegAlgorithm(name="m", version="1"))
        for n, v in LABELS.items()
    ]
    reference = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=np.ascontiguousarray(labels.transpose(2, 1, 0)),
        segmentation_type="BINARY",
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=5,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="x",
        manufacturer_model_name="y",
        software_versions="1",
        device_serial_number="1",
    )
    buffer = io.BytesIO()
    reference.save_as(buffer)
    buffer.seek(0)
    theirs = pydicom.dcmread(buffer)

    def frame_facts(ds: pydicom.Dataset) -> list[tuple]:
        facts = []
        for item in ds.PerFrameFunctionalGroupsSequence:
            derivation = item.DerivationImageSequence[0]
            source = derivation.SourceImageSequence[0]
            facts.append((
                source.ReferencedSOPInstanceUID, source.ReferencedSOPClassUID,
                source.SpatialLocationsPreserved,
                source.PurposeOfReferenceCodeSequence[0].CodeValue,
                derivation.DerivationCodeSequence[0].CodeValue,
                tuple(item.FrameContentSequence[0].DimensionIndexValues),
                tuple(round(float(v), 4) for v in item.PlanePositionSequence[0].ImagePositionPatient),
                item.SegmentIdentificationSequence[0].ReferencedSegmentNumber,
                tuple(item.dir()),
            ))  # fmt: skip
        return facts

    def instances(ds: pydicom.Dataset) -> set[tuple[str, str]]:
        return {
            (i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID)
            for i in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence
        }

    assert frame_facts(ours) == frame_facts(theirs)
    assert instances(ours) == instances(theirs) and len(instances(ours)) == series.shape[2]
    np.testing.assert_array_equal(ours.pixel_array, theirs.pixel_array)


def test_empty_segmentation_still_writes_a_readable_seg(tmp_path: Path, series_dir: Path):
    series = read_series(series_dir)
    empty = np.zeros(series.shape, dtype=np.uint8)
    written = write_seg(tmp_path / "empty.dcm", empty, series, LABELS)
    assert written.frames >= 1
    np.testing.assert_array_equal(read_seg(written.path, series).array, empty)
