"""A model-zoo bundle through the infer step vs `python -m monai.bundle run` on the same volume.

The spleen CT bundle (configs unchanged, random weights from its `network_def` with the
output layer's biases set on the scan so that spleen and background each take a real share of
it, else the agreement below would be trivial; from
../shared/reference when present, else a bundle written here with the same network, pipeline
and sliding-window settings) segments one synthetic CT. Ours: `python -m containers.infer`
from the DICOM series to the SEG, NIfTI, QC picture and report (DICOM in and SEG out
included). Theirs: MONAI's bundle runner (`monai.bundle.run`, what `python -m monai.bundle run`
calls) in its own process on that series as NIfTI (staged once, not counted), writing its NIfTI
label map. Each run is its own process; wall time and peak
resident memory (the process's ru_maxrss from wait4) are taken side by side, rounds
interleaved, median reported. Goals: time <= 1.15x, memory <= 1.2x. The label maps are
compared voxel for voxel as well (note).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from benchmarks.harness import BenchResult
from containers.common.dicom_series import read_series
from containers.common.nifti_io import write_nifti
from tests.conftest import REFERENCE_DIR
from tests.imaging.dicom_factory import SeriesGeometry, phantom_volume, write_ct_series
from tests.monai_bundles import random_weights, tiny_bundle, tiny_inference_config

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
SPLEEN = "spleen_ct_segmentation"
CALIBRATE = (
    "import json, sys\nfrom pathlib import Path\n"
    "from tests.monai_bundles import calibrated_weights\n"
    "calibrated_weights(Path(sys.argv[1]), Path(sys.argv[2]), overrides={\n"
    "    'inferer#roi_size': json.loads(sys.argv[3]), 'inferer#sw_batch_size': 1})\n"
)
# What `python -m monai.bundle run --config_file ... --key value` calls once `fire` has parsed
# its arguments (fire is not a dependency here): monai.bundle.run with those keyword arguments.
MONAI_BUNDLE_RUN = "import json, sys\nfrom monai.bundle import run\nrun(**json.loads(sys.argv[1]))"


def spleen_bundle(folder: Path) -> tuple[Path, str]:
    """The zoo's spleen bundle with random weights, or one shaped like it."""
    reference = REFERENCE_DIR / "monai-model-zoo" / SPLEEN
    if reference.is_dir():
        target = folder / SPLEEN
        shutil.copytree(reference, target)
        random_weights(target)
        return target, "model-zoo spleen_ct_segmentation"
    config = tiny_inference_config(2, spacing=(1.5, 1.5, 2.0), roi=(96, 96, 96))
    config["network_def"].update(
        channels=[16, 32, 64, 128, 256], strides=[2, 2, 2, 2], num_res_units=2, norm="batch"
    )
    config["inferer"]["overlap"] = 0.5
    config["datalist"] = "$list(sorted(glob.glob(@dataset_dir + '/*.nii*')))"
    return tiny_bundle(folder, SPLEEN, labels=["spleen"], config=config), "spleen-shaped bundle"


def _measure(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        error = process.stderr.read().decode(errors="replace")[-2000:] if process.stderr else ""
        raise RuntimeError(f"{command[:4]} failed: {error}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def run(quick: bool) -> list[BenchResult]:
    shape = (96, 96, 40) if quick else (160, 160, 60)
    roi = [64, 64, 64] if quick else [96, 96, 96]
    rounds = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="bench-bundle-infer-") as scratch:
        root = Path(scratch)
        bundle, source = spleen_bundle(root / "models")
        dicom = root / "dicom"
        write_ct_series(
            dicom, phantom_volume(shape, seed=4), SeriesGeometry(spacing=(1.2, 1.2, 2.5))
        )
        series = read_series(dicom)
        image = write_nifti(root / "staged" / "image.nii", series.volume, series.affine)
        # Random weights label one class almost everywhere, where any two pipelines agree:
        # the output layer's biases are set on this scan so both classes have a real share.
        # In a process of its own: a child's ru_maxrss starts from its parent's size at the
        # fork, so this process stays smaller than what it measures.
        subprocess.run(
            [sys.executable, "-c", CALIBRATE, str(bundle), str(image), json.dumps(roi)],
            cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ours_times, ours_memory, theirs_times, theirs_memory = [], [], [], []
        ours_cpu, theirs_cpu = [], []
        for index in range(rounds):
            ours_out, theirs_out = root / f"ours{index}", root / f"theirs{index}"
            wall, peak, cpu = _measure(
                [sys.executable, "-m", "containers.infer", "--input", str(dicom), "--model",
                 str(bundle), "--output", str(ours_out), "--device", "cpu",
                 "--override", f"inferer::roi_size={json.dumps(roi)}",
                 "--override", "inferer::sw_batch_size=1"]
            )  # fmt: skip
            ours_times.append(wall)
            ours_memory.append(peak)
            ours_cpu.append(cpu)
            config = next(p for p in (bundle / "configs").glob("inference.*"))
            wall, peak, cpu = _measure(
                [sys.executable, "-c", MONAI_BUNDLE_RUN, json.dumps({
                    "config_file": str(config),
                    "meta_file": str(bundle / "configs" / "metadata.json"),
                    "bundle_root": str(bundle), "datalist": [str(image)],
                    "dataset_dir": str(image.parent), "output_dir": str(theirs_out),
                    "dataloader#num_workers": 0, "inferer#roi_size": roi,
                    "inferer#sw_batch_size": 1,
                })]
            )  # fmt: skip
            theirs_times.append(wall)
            theirs_memory.append(peak)
            theirs_cpu.append(cpu)
        if min(ours_memory + theirs_memory) <= parent * 1.01:
            raise RuntimeError(
                f"a process measured no more than this one's {parent:.0f} MB, which its "
                "ru_maxrss starts from: its own peak is not known"
            )
        ours_map = np.asarray(nib.load(next((ours_out / "NIFTI").iterdir())).dataobj)
        theirs_map = np.rint(np.asarray(nib.load(next(theirs_out.rglob("*.nii*"))).dataobj))
        agreement = float(np.mean(ours_map == theirs_map.reshape(ours_map.shape)))
        foreground = float(np.mean(theirs_map > 0))
        if not 0.05 <= foreground <= 0.95:
            raise RuntimeError(
                f"the label map is trivial ({foreground:.1%} foreground): the agreement would "
                "say nothing"
            )
        report = json.loads((ours_out / "REPORT" / "report.json").read_text())
    note = (
        f"{source}, {shape} CT, roi {roi}, {rounds} round(s) interleaved, median; the same "
        f"label on {agreement:.4%} of voxels ({foreground:.1%} labelled by theirs); ours: forward passes "
        f"{report['timings']['forward_seconds']:.1f} s of {report['timings']['total_seconds']:.1f} s; "
        f"CPU time (user + system) {statistics.median(ours_cpu):.1f} s vs "
        f"{statistics.median(theirs_cpu):.1f} s"
    )
    log.info("bundle infer: %s", note)
    suffix = "_quick" if quick else ""
    return [
        BenchResult(
            name=f"zoo_bundle_infer_time{suffix}",
            ours=statistics.median(ours_times),
            reference=statistics.median(theirs_times),
            goal="<=1.15",
            note=note,
        ),
        BenchResult(
            name=f"zoo_bundle_infer_peak_memory{suffix}",
            ours=statistics.median(ours_memory),
            reference=statistics.median(theirs_memory),
            goal="<=1.2",
            unit="MB",
            note=f"peak resident memory of each process (ru_maxrss; the benchmark's own "
            f"{parent:.0f} MB, where a child's count starts, is below both)",
        ),
        BenchResult(
            name=f"zoo_bundle_infer_same_labels{suffix}",
            ours=agreement,
            reference=0.999,
            goal=">=1.0",
            unit="share of voxels",
            note="ours vs monai.bundle run on the same volume",
        ),
    ]
