"""NIfTI in and out (nibabel), with the RAS affine `dicom_series` builds.

A volume written here from a `Series` has the DICOM's world coordinates: voxel (i, j, k) maps
through `affine` to the RAS point that ImagePositionPatient (LPS) gives, with x and y negated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from isal import igzip

from xnat_plugin.errors import UserError


@dataclass
class NiftiVolume:
    array: np.ndarray
    affine: np.ndarray  # voxel → RAS mm

    @property
    def spacing(self) -> tuple[float, float, float]:
        norms = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(norms[0]), float(norms[1]), float(norms[2]))


def write_nifti(
    path: Path | str, array: np.ndarray, affine: np.ndarray, *, dtype: type | None = None
) -> Path:
    """Write `array` with `affine` (sform and qform both set, code 1 = scanner)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = array if dtype is None else array.astype(dtype, copy=False)
    image = nib.Nifti1Image(data, affine)
    image.set_sform(affine, code=1)
    image.set_qform(affine, code=1)
    if np.issubdtype(data.dtype, np.integer):
        image.header.set_slope_inter(1, 0)
    if path.name.endswith(".gz"):
        # The same single-member gzip file nibabel writes, compressed with ISA-L (about 4×
        # faster than zlib at level 1, and smaller).
        path.write_bytes(igzip.compress(image.to_bytes(), compresslevel=1))
    else:
        nib.save(image, path)
    return path


def read_nifti(path: Path | str, *, dtype: type = np.float32) -> NiftiVolume:
    """Read a 3-D NIfTI (a trailing singleton 4th axis is dropped) as `dtype`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"NIfTI file {path} does not exist")
    try:
        image = nib.load(path)
    except Exception as exc:
        raise UserError(f"{path} is not a readable NIfTI file: {exc}") from exc
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
        raise UserError(f"{path} is a {type(image).__name__}, not NIfTI")
    shape = image.shape
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != 3:
        raise UserError(f"{path} has shape {image.shape}: expected one 3-D volume")
    array: np.ndarray = np.asarray(image.dataobj, dtype=dtype).reshape(shape, order="F")
    return NiftiVolume(array=array, affine=np.asarray(image.affine, dtype=float))
