"""Start-up of the steps, and a small session's infer wall time against the work it records.

A container pays its step's start-up on every job: on a site that segments every new session,
that is GPU time held idle. Both measurements run fresh processes, as a container does, in
interleaved rounds (ours, then the reference, in turn; three rounds, quick: one) so load on a
shared machine falls on both sides alike; the medians are reported.

- start-up: from process start to the first byte of input read (an audit hook sees the first
  `open` of a file under the step's input and ends the process there), for the infer step (a
  DICOM series) and the evaluate step (local mode: two NIfTI label maps), vs the same
  interpreter doing nothing (process start to its first line of code). Goal: at most 3 s on
  this machine; the ratio is printed beside it.
- wall vs work: `python -m containers.infer` on a small session (the demo's size: 96×96×40 CT,
  the CPU UNet the demo trains, random weights), its wall time from process start to exit vs
  the work its report records (total time less the wait for libraries and the model loading in
  the background). Goal ≤ 1.5. The note gives wall − work in seconds (start-up, the wait, exit):
  on a loaded machine the forward passes slow down far more than the imports, so the ratio
  alone flatters a busy run.
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import BenchResult
from containers.common.bundle import BundleSpec, NetworkSpec, save_bundle
from containers.common.nifti_io import write_nifti
from xnat_plugin.sandbox.seed.ct_series import write_ct_series
from xnat_plugin.sandbox.seed.seeding import PlannedSession
from xnat_plugin.sandbox.seed.sites import site_for_session

log = logging.getLogger("benchmarks.startup")

REPO = Path(__file__).resolve().parents[1]
START_UP_GOAL_SECONDS = 3.0

# Runs `python -m <module> <args>` and ends the process at the first `open` of a path under
# WATCHED, printing the clock (CLOCK_MONOTONIC is one clock for every process of the machine).
_PROBE = r"""
import os, sys, time
watched, module = sys.argv[1], sys.argv[2]
def _first_input_read(event, args):
    if event == "open" and isinstance(args[0], str) and args[0].startswith(watched):
        os.write(1, f"{time.monotonic()}\n".encode())
        os._exit(0)
sys.addaudithook(_first_input_read)
sys.argv = [module, *sys.argv[3:]]
import runpy
runpy.run_module(module, run_name="__main__", alter_sys=True)
os.write(1, b"never read its input\n")
"""

# The same interpreter doing nothing: process start to its first line of code.
_NOTHING = r"""
import os, time
os.write(1, f"{time.monotonic()}\n".encode())
"""

# A demo-sized model: the UNet the demo trains on CPU (its settings.py), random weights.
CPU_UNET = {"channels": [8, 16, 32, 64], "strides": [2, 2, 2], "num_res_units": 1}


def _seconds_to_first_line(code: str, argv: list[str]) -> float:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=REPO, check=False
    )
    lines = done.stdout.strip().splitlines()
    try:
        return float(lines[-1]) - started
    except (IndexError, ValueError):
        raise RuntimeError(
            f"start-up probe got no time (exit {done.returncode}): {done.stdout[-500:]}"
            f"{done.stderr[-2000:]}"
        ) from None


def _infer_wall_and_work(argv: list[str], output: Path) -> tuple[float, float]:
    shutil.rmtree(output, ignore_errors=True)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "containers.infer", *argv, "--output", str(output)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"infer failed: {done.stderr[-2000:]}")
    timings = json.loads((output / "REPORT" / "report.json").read_text())["timings"]
    work = timings["total_seconds"] - timings.get("startup_wait_seconds", 0.0)
    log.info("infer: wall %.2f s, work %.2f s (%s)", wall, work, timings)
    return wall, work


def _small_session(folder: Path) -> tuple[Path, Path]:
    planned = PlannedSession.of(1, 0, site_for_session(1, 2))
    ct_files = write_ct_series(planned.phantom, folder / "DICOM", planned.identity)
    spec = BundleSpec(
        model_name="small",
        network=NetworkSpec(name="UNet", kwargs=CPU_UNET),
        labels={"liver": 1, "spleen": 2, "kidney": 3},
        patch_size=(96, 96, 32),
    )
    save_bundle(folder / "model", spec, spec.build_network().state_dict())
    assert ct_files
    return folder / "DICOM", folder / "model"


def _label_maps(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    reference = np.zeros((96, 96, 40), dtype=np.uint8)
    reference[20:70, 25:75, 5:35] = 1
    prediction = np.roll(reference, 2, axis=0)
    prediction[rng.random(prediction.shape) < 0.001] = 1
    maps = folder / "labels"
    write_nifti(maps / "reference.nii.gz", reference, np.diag([1.5, 1.5, 2.5, 1.0]))
    write_nifti(maps / "prediction.nii.gz", prediction, np.diag([1.5, 1.5, 2.5, 1.0]))
    return maps


def run(quick: bool) -> list[BenchResult]:
    rounds = 1 if quick else 3
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        dicom, model = _small_session(work)
        maps = _label_maps(work)
        infer_args = ["--input", str(dicom), "--model", str(model), "--device", "cpu"]
        probes = {
            "infer": [
                str(dicom),
                "containers.infer",
                *infer_args,
                "--output",
                str(work / "probe-out"),
            ],
            "evaluate": [
                str(maps),
                "containers.evaluate",
                "--reference", str(maps / "reference.nii.gz"),
                "--prediction", str(maps / "prediction.nii.gz"),
                "--output", str(work / "eval-out"),
            ],
        }  # fmt: skip
        nothing: list[float] = []
        start_up: dict[str, list[float]] = {step: [] for step in probes}
        walls: list[tuple[float, float]] = []
        for attempt in range(rounds):
            for step, argv in probes.items():
                shutil.rmtree(work / "probe-out", ignore_errors=True)
                shutil.rmtree(work / "eval-out", ignore_errors=True)
                start_up[step].append(_seconds_to_first_line(_PROBE, argv))
                nothing.append(_seconds_to_first_line(_NOTHING, []))
            walls.append(_infer_wall_and_work(infer_args, work / "infer-out"))
            log.info(
                "round %d: start-up %s, nothing %.3f s",
                attempt + 1,
                {step: round(times[-1], 3) for step, times in start_up.items()},
                nothing[-1],
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    baseline = statistics.median(nothing)
    results = [
        BenchResult(
            f"{step} step start-up (to first input byte) vs interpreter doing nothing",
            statistics.median(times),
            baseline,
            f"ours<={START_UP_GOAL_SECONDS:g}",
            note=f"goal: at most {START_UP_GOAL_SECONDS:g} s; median of {len(times)}",
        )
        for step, times in start_up.items()
    ]
    # What the step adds to its work (start-up, waiting for its libraries, exit) is the same
    # few seconds whatever the work; the work itself (mostly forward passes) grows with load.
    overhead = statistics.median(w - k for w, k in walls)
    walls.sort(key=lambda pair: pair[0] / pair[1])
    wall, step_work = walls[len(walls) // 2]
    results.append(
        BenchResult(
            "infer on a small session (96×96×40): wall time vs the work its report records",
            wall,
            step_work,
            "<=1.5",
            note=f"median ratio of {len(walls)} fresh process(es), CPU; wall − work "
            f"{overhead:.2f} s",
        )
    )
    return results
