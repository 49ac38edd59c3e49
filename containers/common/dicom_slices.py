"""Single DICOM image files → header fields and pixels (`SliceFile`), read in threads.

Uncompressed little-endian files go through `dicom_fast_header` (a few fields and the pixel
offset, no pydicom Dataset); everything else through pydicom, which also explains what it
cannot read. Files that are not DICOM images are skipped; multi-frame files, mosaics, colour
images and images without geometry are refused with a `UserError` naming the file.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from containers.common.dicom_fast_header import FastHeader, scan_header
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

_NATIVE_SYNTAXES = {ExplicitVRLittleEndian, ImplicitVRLittleEndian}


class HeaderFields(dict[str, Any]):
    """The few header values the fast scanner keeps, readable like a pydicom Dataset
    (`h.Rows`, `h.get("RescaleSlope")`, `"PixelSpacing" in h`); building a real Dataset
    per slice would cost more than reading the file."""

    def __getattr__(self, keyword: str) -> Any:
        try:
            return self[keyword]
        except KeyError:
            raise AttributeError(keyword) from None


Header = Dataset | HeaderFields


@dataclass
class SliceFile:
    """One single-frame image file: its header (pixels removed) and its decoded pixels."""

    path: Path
    header: Header
    pixels: np.ndarray | None = None
    complete: bool = True  # False: only the fields `dicom_fast_header.WANTED` lists

    @property
    def series_uid(self) -> str:
        return str(self.header.get("SeriesInstanceUID", ""))


def read_slice_files(paths: Sequence[Path], *, workers: int | None = None) -> list[SliceFile]:
    """Read headers and pixels of the DICOM image files among `paths`, in threads.

    Files that are not DICOM, or DICOM without pixels (reports, SEGs), are skipped with a
    debug line: XNAT resources also hold catalog XML and the like.
    """
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    if len(paths) <= 2 or workers == 1:
        results = [_read_slice_file(p) for p in paths]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_read_slice_file, paths, chunksize=8))
    return [r for r in results if r is not None]


def _read_slice_file(path: Path) -> SliceFile | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc
    fast = scan_header(data)
    if fast is not None:
        return _slice_from_fast_header(path, data, fast)
    return _slice_from_pydicom(path, data)


def _slice_from_fast_header(path: Path, data: bytes, fast: FastHeader) -> SliceFile | None:
    header = HeaderFields(fast.values)
    if not {"Rows", "Columns", "ImagePositionPatient"} <= header.keys():
        return _slice_from_pydicom(path, data)  # unusual file: let pydicom explain it
    _check_single_frame_greyscale(header, path)
    rows, cols = int(header.Rows), int(header.Columns)
    bits_allocated = int(header.get("BitsAllocated", 16))
    if bits_allocated not in (8, 16, 32):
        return _slice_from_pydicom(path, data)
    signed = header.get("PixelRepresentation", 0) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits_allocated // 8}")
    if fast.pixel_length < rows * cols * dtype.itemsize:
        raise UserError(
            f"{path} is truncated: pixel data has {fast.pixel_length} bytes, "
            f"expected {rows * cols * dtype.itemsize}; re-export the scan"
        )
    pixels = np.frombuffer(data, dtype=dtype, count=rows * cols, offset=fast.pixel_offset)
    pixels = _apply_bits_stored(
        pixels.reshape(rows, cols), int(header.get("BitsStored", bits_allocated))
    )
    return SliceFile(path=path, header=header, pixels=pixels, complete=False)


def _slice_from_pydicom(path: Path, data: bytes) -> SliceFile | None:
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError) as exc:
        log.debug("skipping %s: not DICOM (%s)", path, exc)
        return None
    except Exception as exc:
        raise UserError(
            f"cannot read DICOM file {path}: {exc}; re-export the scan or remove the file"
        ) from exc
    if "PixelData" not in ds:
        log.debug("skipping %s: no pixel data (%s)", path, ds.get("Modality", "?"))
        return None
    _check_single_frame_greyscale(ds, path)
    pixels = _decode_pixels(ds, path)
    del ds.PixelData
    return SliceFile(path=path, header=ds, pixels=pixels)


def _check_single_frame_greyscale(ds: Header, path: Path) -> None:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise UserError(
            f"{path} is a multi-frame DICOM file ({frames} frames): this step reads single-frame "
            "series only; convert it to single-frame files (e.g. dcmtk's dcmsplit) first"
        )
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise UserError(
            f"{path} is a colour image ({ds.get('PhotometricInterpretation')}): "
            "segmentation needs a greyscale CT/MR series"
        )
    if "MOSAIC" in str(ds.get("ImageType", "")).upper():
        raise UserError(
            f"{path} is a Siemens mosaic (many slices tiled in one image): convert the series "
            "with dcm2niix or export it as one slice per file"
        )
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        if keyword not in ds:
            raise UserError(
                f"{path} has no {keyword}: cannot place it in space; this is not a "
                "cross-sectional image series (CT/MR/PET)"
            )


def _decode_pixels(ds: Dataset, path: Path) -> np.ndarray:
    syntax = ds.file_meta.get("TransferSyntaxUID", ImplicitVRLittleEndian)
    rows, cols = int(ds.Rows), int(ds.Columns)
    bits_allocated = int(ds.BitsAllocated)
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    if syntax in _NATIVE_SYNTAXES and bits_allocated in (8, 16, 32):
        dtype = np.dtype(f"<{'i' if signed else 'u'}{bits_allocated // 8}")
        raw = ds.PixelData
        if len(raw) < rows * cols * dtype.itemsize:
            raise UserError(
                f"{path} is truncated: pixel data has {len(raw)} bytes, "
                f"expected {rows * cols * dtype.itemsize}; re-export the scan"
            )
        pixels = np.frombuffer(raw, dtype=dtype, count=rows * cols).reshape(rows, cols)
        return _apply_bits_stored(pixels, int(ds.get("BitsStored", bits_allocated)))
    if syntax.is_compressed:
        decoder = get_decoder(syntax)
        if not decoder.is_available:
            missing = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
            raise UserError(
                f"{path} is compressed as {syntax.name} and no decoder is installed "
                f"({missing}); install one or export the scan uncompressed"
            )
    try:
        return np.asarray(ds.pixel_array)
    except Exception as exc:
        raise UserError(f"cannot decode pixels of {path} ({syntax.name}): {exc}") from exc


def _apply_bits_stored(pixels: np.ndarray, bits_stored: int) -> np.ndarray:
    """Ignore bits above BitsStored (and sign-extend), as the standard says readers must."""
    bits_allocated = pixels.dtype.itemsize * 8
    if bits_stored >= bits_allocated:
        return pixels
    if pixels.dtype.kind == "i":
        shift = bits_allocated - bits_stored
        return (pixels << shift) >> shift
    return pixels & np.array((1 << bits_stored) - 1, dtype=pixels.dtype)
