"""Reading a DICOM series: voxels, geometry, and every refusal with its reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import JPEGLosslessSV1

from containers.common.dicom_series import read_series
from tests.imaging.dicom_factory import SeriesGeometry, phantom_volume, write_ct_series
from xnat_plugin.errors import UserError


def test_series_volume_has_the_written_hounsfield_units(series_dir: Path, phantom: np.ndarray):
    series = read_series(series_dir)
    assert series.volume.shape == phantom.shape
    np.testing.assert_array_equal(series.volume, phantom.astype(np.float32))


def test_every_voxel_centre_maps_to_its_slice_position(series_dir: Path, geometry: SeriesGeometry):
    series = read_series(series_dir)
    for k in (0, 5, series.shape[2] - 1):
        header = series.headers[k]
        ipp = np.asarray(header.ImagePositionPatient, dtype=float)
        row_dir = np.asarray(header.ImageOrientationPatient[:3], dtype=float)
        col_dir = np.asarray(header.ImageOrientationPatient[3:], dtype=float)
        row_spacing, col_spacing = (float(v) for v in header.PixelSpacing)
        for i, j in ((0, 0), (7, 3), (39, 31)):
            lps = ipp + i * col_spacing * row_dir + j * row_spacing * col_dir
            ras = series.affine @ np.array([i, j, k, 1.0])
            np.testing.assert_allclose(ras[:3], lps * [-1, -1, 1], atol=1e-4)
    np.testing.assert_allclose(series.positions[0], geometry.origin, atol=1e-6)
    np.testing.assert_allclose(series.spacing, geometry.spacing, rtol=1e-6)


def test_slices_are_ordered_by_position_not_file_name(series_dir: Path):
    series = read_series(series_dir)
    numbers = [int(h.InstanceNumber) for h in series.headers]
    assert numbers == sorted(numbers)
    assert len(set(series.sop_instance_uids)) == series.shape[2]


def test_non_dicom_files_beside_the_series_are_ignored(series_dir: Path):
    (series_dir / "catalog.xml").write_text("<cat:DCMCatalog/>")
    assert read_series(series_dir).shape[2] == 12


def test_ct_small_sample_reads_with_its_header_geometry():
    series = read_series(Path(get_testdata_file("CT_small.dcm")))
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    assert series.shape == (128, 128, 1)
    np.testing.assert_allclose(
        series.affine[:3, 3], np.asarray(ds.ImagePositionPatient, float) * [-1, -1, 1]
    )
    expected = ds.pixel_array.T * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(series.volume[:, :, 0], expected)


@pytest.mark.parametrize(
    "name",
    ["MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm"],
)
def test_mr_small_samples_in_several_transfer_syntaxes_give_the_same_pixels(name: str):
    reference = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array
    series = read_series(Path(get_testdata_file(name)))
    assert series.spacing[:2] == (0.3125, 0.3125)
    np.testing.assert_array_equal(series.volume[:, :, 0], reference.T)


def test_folder_without_dicom_is_refused(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="no DICOM image files"):
        read_series(tmp_path)


def test_missing_folder_is_refused(tmp_path: Path):
    with pytest.raises(UserError, match="does not exist"):
        read_series(tmp_path / "absent")


def test_two_series_in_one_folder_are_refused(tmp_path: Path):
    write_ct_series(tmp_path, phantom_volume((16, 16, 3)))
    write_ct_series(tmp_path / "b", phantom_volume((16, 16, 3)))
    with pytest.raises(UserError, match="2 series where one was expected"):
        read_series(tmp_path)


def test_one_series_can_be_picked_by_uid_among_several(tmp_path: Path):
    write_ct_series(tmp_path, phantom_volume((16, 16, 3)), series_uid="1.2.3.4")
    write_ct_series(tmp_path / "b", phantom_volume((16, 16, 5)), series_uid="1.2.3.5")
    assert read_series(tmp_path, series_uid="1.2.3.5").shape == (16, 16, 5)


def test_missing_slice_is_refused_naming_its_neighbours(tmp_path: Path):
    write_ct_series(tmp_path, phantom_volume((16, 16, 8)), slices=[0, 1, 2, 4, 5, 6, 7])
    with pytest.raises(UserError, match=r"1 slice\(s\) missing .* between IM"):
        read_series(tmp_path)


def test_uneven_gap_is_refused(tmp_path: Path):
    paths = write_ct_series(tmp_path, phantom_volume((16, 16, 6)))
    ds = pydicom.dcmread(paths[5])
    ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + 1.0
    ds.save_as(paths[5])
    with pytest.raises(UserError, match="uneven slice spacing"):
        read_series(tmp_path)


def test_mixed_orientation_is_refused_naming_the_file(tmp_path: Path):
    paths = write_ct_series(tmp_path, phantom_volume((16, 16, 4)))
    ds = pydicom.dcmread(paths[2])
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    ds.save_as(paths[2])
    with pytest.raises(UserError, match=f"mixed slice orientations.*{paths[2].name}"):
        read_series(tmp_path)


def test_duplicate_slice_position_is_refused(tmp_path: Path):
    paths = write_ct_series(tmp_path, phantom_volume((16, 16, 4)))
    ds = pydicom.dcmread(paths[1])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "copy.dcm")
    with pytest.raises(UserError, match="two slices at the same position"):
        read_series(tmp_path)


def test_multi_frame_file_is_refused(tmp_path: Path):
    shutil.copy(get_testdata_file("rtdose.dcm"), tmp_path / "dose.dcm")
    with pytest.raises(UserError, match="multi-frame DICOM file"):
        read_series(tmp_path)


def test_compressed_file_without_decoder_is_refused(tmp_path: Path):
    paths = write_ct_series(tmp_path, phantom_volume((16, 16, 2)))
    ds = pydicom.dcmread(paths[0])
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8not-really-jpeg\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.save_as(paths[0], enforce_file_format=True)
    with pytest.raises(UserError, match="compressed as JPEG Lossless.*no decoder"):
        read_series(tmp_path)


def test_colour_image_is_refused():
    with pytest.raises(UserError, match="colour image"):
        read_series(Path(get_testdata_file("SC_rgb_small_odd.dcm")))


def test_truncated_file_is_refused(tmp_path: Path):
    shutil.copy(get_testdata_file("MR_truncated.dcm"), tmp_path / "mr.dcm")
    with pytest.raises(UserError, match="truncated|cannot read|cannot decode"):
        read_series(tmp_path)


def _nibabel_dicom(name: str, tmp_path: Path) -> Path:
    import gzip

    import nibabel.nicom.tests

    source = Path(nibabel.nicom.tests.__file__).parent / "data" / name
    if not name.endswith(".gz"):
        return source
    target = tmp_path / name[:-3]
    target.write_bytes(gzip.decompress(source.read_bytes()))
    return target


def test_nibabel_sample_slice_reads_with_its_header_geometry(tmp_path: Path):
    path = _nibabel_dicom("slicethickness_empty_string.dcm", tmp_path)
    ds = pydicom.dcmread(path)
    series = read_series(path)
    assert series.shape == (int(ds.Columns), int(ds.Rows), 1)
    assert series.spacing[:2] == pytest.approx(
        [float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0])]
    )
    row_dir = np.asarray(ds.ImageOrientationPatient[:3], dtype=float)
    corner = np.asarray(ds.ImagePositionPatient, float) + 10 * float(ds.PixelSpacing[1]) * row_dir
    np.testing.assert_allclose(
        series.affine @ [10, 0, 0, 1], [*(corner * [-1, -1, 1]), 1], atol=1e-4
    )


def test_siemens_mosaic_is_refused(tmp_path: Path):
    with pytest.raises(UserError, match="Siemens mosaic"):
        read_series(_nibabel_dicom("siemens_dwi_0.dcm.gz", tmp_path))


def test_enhanced_multi_frame_mr_is_refused(tmp_path: Path):
    with pytest.raises(UserError, match=r"multi-frame DICOM file \(176 frames\)"):
        read_series(_nibabel_dicom("philips_mprage.dcm.gz", tmp_path))


def test_image_without_sop_instance_uid_still_gives_a_volume(tmp_path: Path):
    series = read_series(_nibabel_dicom("decimal_rescale.dcm", tmp_path))
    assert series.sop_instance_uids == [""]
    assert np.isfinite(series.volume).all()
