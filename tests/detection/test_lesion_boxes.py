"""Reference lesions as boxes: one per connected component of a label, from a SEG's label map
or an RTSTRUCT filled onto the series; boxes carried between the scan frame and patient
coordinates on axial and oblique series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from containers.common.dicom_series import read_series
from containers.common.lesions import ScanFrame, lesions_from_label_map, sphere_diameter_mm
from containers.common.rtstruct_reader import read_rtstruct
from containers.common.rtstruct_writer import (
    RoiContours,
    StructureSetIdentity,
    box_contours,
    build_rtstruct,
    write_rtstruct,
)
from xnat_plugin.errors import UserError


def _two_lesions(shape: tuple[int, int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[3:7, 4:9, 2:5] = 1  # 4 x 5 x 3 voxels
    mask[20:22, 20:21, 8:9] = 1  # 2 x 1 x 1 voxels
    return mask


def _identity(label: str = "AI boxes") -> StructureSetIdentity:
    return StructureSetIdentity(
        sop_instance_uid=generate_uid(), series_instance_uid=generate_uid(), label=label
    )


def test_one_box_per_component_with_its_faces_and_sphere_diameter(series_dir: Path):
    series = read_series(series_dir)
    frame = ScanFrame.of(series)
    lesions = lesions_from_label_map(_two_lesions(series.shape), {"nodule": 1}, frame)
    assert len(lesions) == 2
    sx, sy, sz = series.spacing
    big = lesions[0]
    assert big.box_mm == pytest.approx((2.5 * sx, 3.5 * sy, 1.5 * sz, 6.5 * sx, 8.5 * sy, 4.5 * sz))
    assert big.extent_mm == pytest.approx((4 * sx, 5 * sy, 3 * sz))
    assert big.volume_mm3 == pytest.approx(60 * sx * sy * sz)
    assert big.diameter_mm == pytest.approx(sphere_diameter_mm(60 * sx * sy * sz))
    # The box centre is the centre of voxel (4.5, 6, 3) in patient coordinates.
    expected = series.affine_lps @ np.array([4.5, 6.0, 3.0, 1.0])
    assert big.centre_lps_mm == pytest.approx(tuple(expected[:3]))


def test_scan_frame_and_patient_coordinates_round_trip(series_dir: Path):
    frame = ScanFrame.of(read_series(series_dir))
    points = np.array([[0.0, 0.0, 0.0], [10.0, -3.0, 7.5]])
    np.testing.assert_allclose(frame.from_lps(frame.to_lps(points)), points, atol=1e-9)


def test_a_box_written_as_rtstruct_reads_back_to_exactly_its_voxels(
    tmp_path: Path, series_dir: Path
):
    series = read_series(series_dir)
    frame = ScanFrame.of(series)
    mask = _two_lesions(series.shape)
    lesions = lesions_from_label_map(mask, {"nodule": 1}, frame)
    rois = [
        RoiContours(f"nodule {n}", box_contours(frame, np.array(lesion.box_mm)))
        for n, lesion in enumerate(lesions, start=1)
    ]
    path = tmp_path / "boxes.dcm"
    write_rtstruct(path, series, rois, _identity())
    back = read_rtstruct(path, series)
    assert back.labels == {"nodule 1": 1, "nodule 2": 2}
    np.testing.assert_array_equal(back.array > 0, mask > 0)
    again = lesions_from_label_map(back.array, back.labels, frame)
    np.testing.assert_allclose([a.box_mm for a in again], [b.box_mm for b in lesions])


def test_a_contour_smaller_than_a_voxel_still_marks_its_voxel(tmp_path: Path, series_dir: Path):
    series = read_series(series_dir)
    centre = (series.affine_lps @ np.array([10.0, 12.0, 5.0, 1.0]))[:3]
    across, down = (series.affine_lps[:3, a] / series.spacing[a] for a in (0, 1))
    tiny = centre + 0.1 * np.array([across, down, -across])  # a triangle 0.2 mm wide
    path = tmp_path / "tiny.dcm"
    write_rtstruct(path, series, [RoiContours("speck", [(5, tiny)])], _identity())
    back = read_rtstruct(path, series)
    assert np.argwhere(back.array).tolist() == [[10, 12, 5]]


def test_an_rtstruct_of_another_series_is_refused(tmp_path: Path, series_dir: Path):
    series = read_series(series_dir)
    path = tmp_path / "other.dcm"
    dataset = build_rtstruct(series, [], _identity())
    frame_item = dataset.ReferencedFrameOfReferenceSequence[0]
    frame_item.RTReferencedStudySequence[0].RTReferencedSeriesSequence[
        0
    ].SeriesInstanceUID = "1.2.3"
    dataset.save_as(path, enforce_file_format=True)
    with pytest.raises(UserError, match="drawn on series 1.2.3"):
        read_rtstruct(path, series)


def test_a_contour_between_slices_is_refused(tmp_path: Path, series_dir: Path):
    series = read_series(series_dir)
    frame = ScanFrame.of(series)
    box = np.array([0.0, 0.0, 1.5 * series.spacing[2], 5.0, 5.0, 2.5 * series.spacing[2]])
    (k, points), *_ = box_contours(frame, box)
    shifted = points + series.affine_lps[:3, 2] * 0.5  # half a slice along the normal
    path = tmp_path / "between.dcm"
    write_rtstruct(path, series, [RoiContours("x", [(k, shifted)])], _identity())
    with pytest.raises(UserError, match="does not lie on a slice"):
        read_rtstruct(path, series)


def test_a_file_that_is_not_an_rtstruct_is_refused(tmp_path: Path, series_dir: Path):
    series = read_series(series_dir)
    with pytest.raises(UserError, match="not an RT Structure Set"):
        read_rtstruct(series.paths[0], series)
    assert pydicom.dcmread(series.paths[0]).Modality == "CT"
