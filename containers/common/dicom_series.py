"""One DICOM series on disk → a volume with its world geometry (`Series`).

Voxel order follows NIfTI/MONAI: `volume[i, j, k]` is pixel column `i`, row `j` of the `k`-th
slice sorted along the slice normal. `affine` maps (i, j, k) to RAS millimetres, so a NIfTI
written with it overlays the DICOM exactly; `affine_lps` is the same in DICOM's LPS frame.

Every problem a user can meet (no DICOM, several series, a multi-frame file, a compressed file
without a decoder, mixed orientations, a missing slice, an uneven gap) is a `UserError` naming the
file and what to do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from containers.common.dicom_slices import Header, SliceFile, read_slice_files
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
# Direction cosines that differ by more than this are a different orientation.
ORIENTATION_TOLERANCE = 1e-4
# A slice may sit this fraction of the slice step away from where even spacing puts it.
POSITION_TOLERANCE = 0.05


@dataclass
class Series:
    """A DICOM series as a volume with geometry and the references a DICOM SEG needs."""

    volume: np.ndarray  # float32, (columns, rows, slices), rescaled (e.g. Hounsfield units)
    affine: np.ndarray  # 4×4, voxel → RAS mm
    spacing: tuple[float, float, float]  # mm along i, j, k
    series_instance_uid: str
    study_instance_uid: str
    frame_of_reference_uid: str
    modality: str
    sop_instance_uids: list[str]  # per slice k
    positions: np.ndarray  # (slices, 3) ImagePositionPatient (LPS mm) per slice k
    orientation: tuple[float, ...]  # ImageOrientationPatient (6 direction cosines)
    # Per slice k, no pixels: headers[0] is complete; the others may hold only the identity
    # and geometry fields a SEG needs (see `dicom_fast_header.WANTED`).
    headers: list[Header] = field(repr=False, default_factory=list)
    paths: list[Path] = field(repr=False, default_factory=list)  # per slice k

    @property
    def first_header(self) -> Dataset:
        """The complete pydicom header of slice 0 (patient, study, equipment, geometry)."""
        header = self.headers[0]
        assert isinstance(header, Dataset)
        return header

    @property
    def affine_lps(self) -> np.ndarray:
        return LPS_TO_RAS @ self.affine

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.volume.shape)  # type: ignore[return-value]


def list_candidate_files(folder: Path) -> list[Path]:
    """Every regular file under `folder` (DICOM or not), in a stable order."""
    if not folder.exists():
        raise UserError(f"input folder {folder} does not exist: mount the scan's DICOM resource")
    if folder.is_file():
        return [folder]
    files: list[Path] = []
    for root, _dirs, names in os.walk(folder):
        files.extend(Path(root) / n for n in names if not n.startswith("."))
    return sorted(files)


def read_series(
    folder: Path | str,
    *,
    series_uid: str | None = None,
    workers: int | None = None,
) -> Series:
    """Read the one image series in `folder` (or the one with `series_uid`) into a `Series`."""
    folder = Path(folder)
    files = read_slice_files(list_candidate_files(folder), workers=workers)
    if not files:
        raise UserError(
            f"no DICOM image files in {folder}: point --input at the scan's DICOM resource"
        )
    chosen = _choose_series(files, folder, series_uid)
    return assemble_series(chosen, workers=workers)


def _choose_series(files: list[SliceFile], folder: Path, series_uid: str | None) -> list[SliceFile]:
    by_series: dict[str, list[SliceFile]] = {}
    for f in files:
        by_series.setdefault(f.series_uid, []).append(f)
    if series_uid is not None:
        if series_uid not in by_series:
            raise UserError(
                f"series {series_uid} is not in {folder} (found: {', '.join(sorted(by_series))})"
            )
        return by_series[series_uid]
    if len(by_series) > 1:
        summary = ", ".join(
            f"{uid} ({len(group)} files, e.g. {group[0].path.name})"
            for uid, group in sorted(by_series.items())
        )
        raise UserError(
            f"{folder} holds {len(by_series)} series where one was expected: {summary}; "
            "give one scan's DICOM resource"
        )
    return next(iter(by_series.values()))


def assemble_series(files: list[SliceFile], *, workers: int | None = None) -> Series:
    """Sort one series' slices along their normal, check the geometry, stack the volume."""
    first = files[0]
    orientation = geometry_numbers(first, "ImageOrientationPatient", 6)
    _check_directions(first, orientation)
    for f in files:
        geometry_numbers(f, "PixelSpacing", 2, positive=True)
    _check_same_grid(files, orientation)
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    positions = np.array([geometry_numbers(f, "ImagePositionPatient", 3) for f in files])
    order = np.argsort(positions @ normal, kind="stable")
    files = [files[i] for i in order]
    positions = positions[order]
    row_spacing, col_spacing = (float(v) for v in geometry_numbers(first, "PixelSpacing", 2))
    step = _slice_step(files, positions, normal, first)

    affine_lps = np.eye(4)
    affine_lps[:3, 0] = row_dir * col_spacing  # i runs along a row, i.e. across columns
    affine_lps[:3, 1] = col_dir * row_spacing
    affine_lps[:3, 2] = step
    affine_lps[:3, 3] = positions[0]

    volume = _stack_volume(files, workers)
    if not files[0].complete:
        # The SEG copies patient and study from the first source image: read it whole.
        files[0].header = pydicom.dcmread(files[0].path, stop_before_pixels=True)
        files[0].complete = True
    header = files[0].header
    return Series(
        volume=volume,
        affine=LPS_TO_RAS @ affine_lps,
        spacing=(col_spacing, row_spacing, float(np.linalg.norm(step))),
        series_instance_uid=str(header.get("SeriesInstanceUID", "")),
        study_instance_uid=str(header.get("StudyInstanceUID", "")),
        frame_of_reference_uid=str(header.get("FrameOfReferenceUID", "")),
        modality=str(header.get("Modality", "")),
        sop_instance_uids=[str(f.header.get("SOPInstanceUID", "")) for f in files],
        positions=positions,
        orientation=tuple(float(v) for v in orientation),
        headers=[f.header for f in files],
        paths=[f.path for f in files],
    )


def geometry_numbers(
    file: SliceFile, keyword: str, count: int, *, positive: bool = False
) -> np.ndarray:
    """A geometry attribute of one slice as `count` finite numbers (positive ones for
    spacings), or the UserError that names the file: every geometry value is read here."""
    what = f"{count} finite {'positive ' if positive else ''}numbers"
    raw = file.header.get(keyword)
    try:
        values = np.asarray([float(v) for v in (raw if raw is not None else [])], dtype=float)
    except (TypeError, ValueError):
        values = np.asarray([])
    if (
        values.shape != (count,)
        or not np.isfinite(values).all()
        or (positive and (values <= 0).any())
    ):
        shown = "missing" if raw is None else _shown(raw)
        raise UserError(
            f"{file.path.name} in series {file.series_uid} has {keyword} {shown}, where DICOM "
            f"needs {what}; the file's geometry is broken: re-export the series"
        )
    return values


def _shown(raw: object) -> str:
    if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
        return repr(raw)
    return str(list(raw))


def _check_directions(file: SliceFile, orientation: np.ndarray) -> None:
    row_dir, col_dir = orientation[:3], orientation[3:]
    lengths = np.linalg.norm(row_dir), np.linalg.norm(col_dir)
    normal = np.linalg.norm(np.cross(row_dir, col_dir))
    if min(lengths) < 0.5 or normal < 0.5:
        raise UserError(
            f"{file.path.name} in series {file.series_uid} has ImageOrientationPatient "
            f"{[float(v) for v in orientation]}, which are not two unit, orthogonal direction "
            "cosines; the file's geometry is broken: re-export the series"
        )


def _check_same_grid(files: Iterable[SliceFile], orientation: np.ndarray) -> None:
    files = list(files)
    first = files[0].header
    for f in files[1:]:
        other = geometry_numbers(f, "ImageOrientationPatient", 6)
        if np.abs(other - orientation).max() > ORIENTATION_TOLERANCE:
            raise UserError(
                f"mixed slice orientations in series {f.series_uid}: {f.path.name} has "
                f"{list(other)} but {files[0].path.name} has {list(orientation)}; "
                "export each orientation as its own series"
            )
        if (f.header.Rows, f.header.Columns) != (first.Rows, first.Columns):
            raise UserError(
                f"mixed image sizes in series {f.series_uid}: {f.path.name} is "
                f"{f.header.Rows}×{f.header.Columns}, {files[0].path.name} is "
                f"{first.Rows}×{first.Columns}; the series is not one volume"
            )
        if not np.allclose(
            [float(v) for v in f.header.PixelSpacing], [float(v) for v in first.PixelSpacing]
        ):
            raise UserError(
                f"mixed pixel spacings in series {f.series_uid}: {f.path.name} has "
                f"{list(f.header.PixelSpacing)}, {files[0].path.name} has "
                f"{list(first.PixelSpacing)}"
            )


def _slice_step(
    files: list[SliceFile], positions: np.ndarray, normal: np.ndarray, first: SliceFile
) -> np.ndarray:
    """The vector from one slice to the next; refuses duplicates, gaps and uneven spacing."""
    if len(files) == 1:
        header = first.header
        thickness = float(header.get("SpacingBetweenSlices") or header.get("SliceThickness") or 1)
        if not np.isfinite(thickness) or thickness <= 0:
            raise UserError(
                f"{first.path.name} in series {first.series_uid} is a single slice with "
                f"thickness {thickness}, where a positive number of mm is needed; re-export it"
            )
        return normal * thickness
    distances = positions @ normal
    deltas = np.diff(distances)
    for k, delta in enumerate(deltas):
        if delta < 1e-3:
            raise UserError(
                f"two slices at the same position in series {first.series_uid}: "
                f"{files[k].path.name} and {files[k + 1].path.name} "
                f"(at {distances[k]:.3f} mm along the normal); the folder mixes acquisitions "
                "or holds a duplicate file"
            )
    typical = float(np.median(deltas))
    for k, delta in enumerate(deltas):
        ratio = delta / typical
        if abs(ratio - 1) <= POSITION_TOLERANCE:
            continue
        between = f"between {files[k].path.name} and {files[k + 1].path.name}"
        if abs(ratio - round(ratio)) <= POSITION_TOLERANCE and round(ratio) >= 2:
            raise UserError(
                f"{round(ratio) - 1} slice(s) missing in series {first.series_uid} {between} "
                f"({delta:.3f} mm apart, others {typical:.3f} mm); upload the complete series"
            )
        raise UserError(
            f"uneven slice spacing in series {first.series_uid}: a {delta:.3f} mm gap {between} "
            f"where the others are {typical:.3f} mm; resample or re-export the series"
        )
    step = (positions[-1] - positions[0]) / (len(files) - 1)
    expected = positions[0] + np.outer(np.arange(len(files)), step)
    drift = np.linalg.norm(positions - expected, axis=1)
    worst = int(np.argmax(drift))
    if drift[worst] > POSITION_TOLERANCE * typical:
        raise UserError(
            f"slice {files[worst].path.name} in series {first.series_uid} is "
            f"{drift[worst]:.3f} mm off the line through the other slices; the slices do not "
            "form one volume"
        )
    return step


def _stack_volume(files: list[SliceFile], workers: int | None = None) -> np.ndarray:
    """Stack pixels into a Fortran-ordered float32 (columns, rows, slices) volume, rescaled.

    One fused pass per slice (cast, scale, shift into place); numpy releases the GIL for it,
    so slices are filled in threads.
    """
    header = files[0].header
    shape = (int(header.Columns), int(header.Rows), len(files))
    volume = np.empty(shape, dtype=np.float32, order="F")

    def fill(k: int) -> None:
        f = files[k]
        assert f.pixels is not None
        slope = np.float32(f.header.get("RescaleSlope", 1) or 1)
        intercept = np.float32(f.header.get("RescaleIntercept", 0) or 0)
        plane = volume[:, :, k]
        if slope == 1:
            np.add(f.pixels.T, intercept, out=plane, casting="unsafe")
        else:
            np.multiply(f.pixels.T, slope, out=plane, casting="unsafe")
            plane += intercept
        f.pixels = None  # free as we go: the volume is the only copy we keep

    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    if workers == 1 or len(files) < 4:
        for k in range(len(files)):
            fill(k)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(fill, range(len(files))))
    return volume
