"""Imaging I/O side by side: DICOM series → volume, and a 5-label mask → DICOM SEG.

- series read: ours (`read_series`) vs dcm2niix (uncompressed NIfTI + nibabel load) and vs
  SimpleITK's GDCM series reader, on a 512×512×200 CT series (quick: 256×256×60); best of 3
  after one warm-up each, so every reader sees the files in the page cache.
- SEG write: ours (`write_seg`, to a file) vs a plain highdicom `Segmentation(...)` with
  defaults given every slice's pydicom header, saved to memory; same 5-label mask; best of 3
  after a warm-up each. Our SEG is read back by our reader and by highdicom's and checked equal
  to the mask, and its frames equal to highdicom's.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.sr.codedict import codes

from benchmarks.harness import BenchResult
from benchmarks.synthetic_ct import blob_labels, write_benchmark_series
from containers.common.dicom_series import read_series
from containers.common.seg_reader import read_seg
from containers.common.seg_writer import SegAlgorithm, write_seg

log = logging.getLogger("benchmarks.imaging")

FULL_SHAPE = (512, 512, 200)
QUICK_SHAPE = (256, 256, 60)
LABELS = {"liver": 1, "spleen": 2, "kidney": 3, "pancreas": 4, "aorta": 5}


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    fn()  # warm-up: page cache, imports, lazy tables
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(quick: bool) -> list[BenchResult]:
    shape = QUICK_SHAPE if quick else FULL_SHAPE
    work = Path(tempfile.mkdtemp(prefix="bench-imaging-"))
    try:
        series_dir = write_benchmark_series(work / "DICOM", shape)
        size = "×".join(str(n) for n in shape)
        results = _series_read(series_dir, work, size)
        results.append(_seg_write(series_dir, size))
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _series_read(series_dir: Path, work: Path, size: str) -> list[BenchResult]:
    ours = best_of(lambda: read_series(series_dir))

    def simpleitk() -> np.ndarray:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(series_dir)))
        return sitk.GetArrayFromImage(reader.Execute())

    dcm2niix = Path(sys.executable).parent / "dcm2niix"
    counter = iter(range(100))

    def dcm2niix_nibabel() -> np.ndarray:
        out = work / f"nii{next(counter)}"
        out.mkdir()
        subprocess.run(
            [str(dcm2niix), "-z", "n", "-b", "n", "-o", str(out), "-f", "vol", str(series_dir)],
            check=True,
            capture_output=True,
        )
        volume = np.asarray(nib.load(next(out.glob("*.nii"))).dataobj)
        shutil.rmtree(out)
        return volume

    reference_volume = read_series(series_dir).volume
    np.testing.assert_array_equal(simpleitk().transpose(2, 1, 0), reference_volume)
    sitk_time = best_of(simpleitk)
    d2n_time = best_of(dcm2niix_nibabel)
    log.info(
        "series read %s: ours %.3f s, SimpleITK %.3f s, dcm2niix %.3f s",
        size,
        ours,
        sitk_time,
        d2n_time,
    )
    return [
        BenchResult(f"series read {size} vs SimpleITK", ours, sitk_time, "<1", note="best of 3"),
        BenchResult(
            f"series read {size} vs dcm2niix+nibabel", ours, d2n_time, "<1", note="best of 3"
        ),
    ]


def _seg_write(series_dir: Path, size: str) -> BenchResult:
    series = read_series(series_dir)
    labels = blob_labels(series.shape)
    ours_buffer = Path(tempfile.mkdtemp()) / "ours.dcm"

    def ours() -> object:
        return write_seg(
            ours_buffer, labels, series, LABELS, algorithm=SegAlgorithm(name="bench", version="1")
        )

    frames = np.ascontiguousarray(labels.transpose(2, 1, 0))
    # What a plain highdicom user passes: every source file's full header.
    full_headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in series.paths]
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=value,
            segment_label=name,
            segmented_property_category=codes.SCT.Organ,
            segmented_property_type=codes.SCT.Organ,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=hd.AlgorithmIdentificationSequence(
                name="bench", version="1", family=codes.DCM.ArtificialIntelligence
            ),
        )
        for name, value in LABELS.items()
    ]

    def highdicom_defaults() -> object:
        seg = hd.seg.Segmentation(
            source_images=full_headers,
            pixel_array=frames,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=hd.UID(),
            series_number=900,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="bench",
            manufacturer_model_name="bench",
            software_versions="1",
            device_serial_number="0",
        )
        seg.save_as(io.BytesIO())
        return seg

    ours_time = best_of(ours)
    theirs_time = best_of(highdicom_defaults)
    # Same pixels read back, by our reader and by highdicom's, and the same frames as
    # highdicom's own SEG (LABELS number the segments 1..5 in order).
    np.testing.assert_array_equal(read_seg(ours_buffer, series).array, labels)
    by_highdicom = hd.seg.segread(ours_buffer).get_pixels_by_source_instance(
        source_sop_instance_uids=series.sop_instance_uids, combine_segments=True
    )
    np.testing.assert_array_equal(by_highdicom, frames)
    np.testing.assert_array_equal(
        pydicom.dcmread(ours_buffer).pixel_array, highdicom_defaults().pixel_array
    )
    shutil.rmtree(ours_buffer.parent, ignore_errors=True)
    log.info("SEG write %s: ours %.3f s, highdicom defaults %.3f s", size, ours_time, theirs_time)
    return BenchResult(
        f"5-label SEG write {size} vs highdicom defaults", ours_time, theirs_time, "<=0.333",
        note="same pixels read back",
    )  # fmt: skip
