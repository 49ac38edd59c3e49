"""Where a detector's box lands: from the bundle's model grid (MONAI's Orientationd + Spacingd
of the zoo's lung_nodule_ct_detection preprocessing) back onto the series' voxels, and into the
DICOM SR measurement report, read back with highdicom; on an axial and an oblique series."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from containers.common.dicom_series import LPS_TO_RAS, read_series
from containers.common.findings import Finding
from containers.common.lesions import ScanFrame
from containers.detection.bundle_detect import box_corners, model_boxes_to_scan
from containers.detection.measurement_report import (
    ReportIdentity,
    build_measurement_report,
    rectangle_box_columns_rows,
)
from containers.infer.bundle_run import stage_channels
from tests.imaging.dicom_factory import write_ct_series

CUBE = (slice(14, 20), slice(10, 15), slice(4, 7))  # voxels (i, j, k) of a bright nodule
ZOO_SPACING = (0.703125, 0.703125, 1.25)  # the zoo bundle's Spacingd pixdim


def _model_image(series, folder: Path):
    """The series through the zoo bundle's own preprocessing transforms (MONAI)."""
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, Orientationd, Spacingd

    (staged,) = stage_channels([series.volume], [series.affine], folder)
    prepare = Compose(
        [
            LoadImaged("image"),
            EnsureChannelFirstd("image"),
            Orientationd("image", axcodes="RAS"),
            Spacingd("image", pixdim=ZOO_SPACING),
        ]
    )
    return prepare({"image": str(staged)})["image"]


@pytest.fixture
def nodule_series(tmp_path: Path, geometry):
    volume = np.full((40, 32, 12), -800, dtype=np.int16)
    volume[CUBE] = 100
    write_ct_series(tmp_path / "DICOM", volume, geometry)
    return read_series(tmp_path / "DICOM")


def test_a_box_round_trips_through_the_model_grid_exactly(nodule_series, tmp_path: Path):
    """A scan-frame box taken to the model grid's voxel indices (through its MONAI affine) and
    back covers the same voxels: eight corners, so oblique series keep their boxes."""
    series = nodule_series
    frame = ScanFrame.of(series)
    image = _model_image(series, tmp_path / "stage")
    affine = np.asarray(image.affine, dtype=np.float64)
    box = frame.voxel_box_mm((14, 10, 4), (20, 15, 7))
    lps = frame.box_corners_lps(box)
    ras = np.c_[lps, np.ones(8)] @ LPS_TO_RAS.T
    index = ras @ np.linalg.inv(affine).T
    model_box = np.concatenate([index[:, :3].min(axis=0), index[:, :3].max(axis=0)])
    back = model_boxes_to_scan(model_box[None], affine, frame)
    np.testing.assert_allclose(back[0], box, atol=1e-6)
    assert frame.covered_voxels(back[0]) == CUBE


def test_the_bright_nodule_found_on_the_model_grid_lands_on_its_voxels(
    nodule_series, tmp_path: Path
):
    """The box a detector reports around the nodule as MONAI's preprocessing shows it (its
    bright voxels on the resampled, reoriented grid) maps onto the voxels painted in the series."""
    series = nodule_series
    frame = ScanFrame.of(series)
    image = _model_image(series, tmp_path / "stage")
    bright = np.argwhere(np.asarray(image[0]) > -350)  # half way between -800 and 100 HU
    model_box = np.concatenate([bright.min(axis=0), bright.max(axis=0)]).astype(float)
    (scan_box,) = model_boxes_to_scan(model_box[None], np.asarray(image.affine), frame)
    painted = frame.voxel_box_mm((14, 10, 4), (20, 15, 7))
    centre = (scan_box[:3] + scan_box[3:]) / 2
    np.testing.assert_allclose(centre, (painted[:3] + painted[3:]) / 2, atol=max(ZOO_SPACING))
    covered = frame.covered_voxels(scan_box)
    for axis, (got, want) in enumerate(zip(covered, CUBE, strict=True)):
        assert abs(got.start - want.start) <= 1 and abs(got.stop - want.stop) <= 1, axis
    assert covered[2] == CUBE[2]


def test_box_corners_are_every_combination_of_faces():
    corners = box_corners(np.array([[0, 1, 2, 10, 11, 12]]))[0]
    assert {tuple(c) for c in corners} == {
        (x, y, z) for x in (0, 10) for y in (1, 11) for z in (2, 12)
    }


def test_the_measurement_report_reads_back_onto_the_series(nodule_series, tmp_path: Path):
    """highdicom reads the SR (TID 1500) back: one planar ROI per finding on the slice through
    its centre, its rectangle over the finding's columns and rows, its diameter and score."""
    series = nodule_series
    frame = ScanFrame.of(series)
    box = tuple(float(v) for v in frame.voxel_box_mm((14, 10, 4), (20, 15, 7)))
    other = tuple(float(v) for v in frame.voxel_box_mm((2, 3, 9), (5, 6, 12)))
    findings = [Finding(box, 0.91, "nodule"), Finding(other, 0.55, "lesion")]  # type: ignore[arg-type]
    identity = ReportIdentity(generate_uid(), generate_uid(), "lung_nodule_ct_detection", "0.6.9")
    path = tmp_path / "sr.dcm"
    build_measurement_report(series, findings, identity).save_as(path, enforce_file_format=True)

    dataset = pydicom.dcmread(path)
    assert dataset.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    report = hd.sr.Comprehensive3DSR.from_dataset(dataset)
    groups = report.content.get_planar_roi_measurement_groups()
    assert len(groups) == 2
    slice_uids = [pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in series.paths]
    for group, finding, centre_k in zip(groups, findings, (5, 10), strict=True):
        region = group.roi
        assert region.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
        source = region.ContentSequence[0].ReferencedSOPSequence[0]  # SELECTED FROM
        assert source.ReferencedSOPInstanceUID == slice_uids[centre_k]
        lo, hi = rectangle_box_columns_rows(region.value)
        box_mm = np.array(finding.box_mm)
        want_i, want_j, _ = frame.covered_voxels(box_mm)
        assert (int(np.ceil(lo[0])), int(np.floor(hi[0])) + 1) == (want_i.start, want_i.stop)
        assert (int(np.ceil(lo[1])), int(np.floor(hi[1])) + 1) == (want_j.start, want_j.stop)
        values = {m.name.value: m.value for m in group.get_measurements()}
        assert values[codes.DCM.CertaintyOfFinding.value] == pytest.approx(finding.score)
        edges = box_mm[3:] - box_mm[:3]
        assert values[codes.SCT.Diameter.value] == pytest.approx(edges.max(), abs=1e-3)
    assert groups[0].finding_type == codes.SCT.Nodule
    assert groups[1].finding_type == codes.SCT.Lesion
