"""The infer step side by side with its own network: is everything else small next to it?

On a synthetic CT series (256×256×128 at 1.2×1.2×2.5 mm; quick: 128×128×48) and the default
bundle (UNet, 96³ patches, 1.5×1.5×2 mm, random weights), the step runs in fresh processes
(three; quick: one), as a container runs it. The network's speed does not depend on its
weights; random ones give a noisy segmentation with ~170 000 islands, the worst case for the
clean-up, the SEG and the gzip of the NIfTI, so the rest of the step is measured at its
slowest.

- time: the step's wall time minus its network forward passes, vs the forward passes alone
  (goal ≤ 0.25: reading, resampling, post-processing and writing cost at most a quarter of
  the network). Both numbers are those of the run with the median ratio: one busy moment on
  a shared machine does not decide the verdict;
- memory: the step's peak resident memory above the process's footprint after a tiny warm-up
  run (which loads every lazily imported library; its freed memory is then handed back to the
  system, so the step cannot reuse it unseen), the largest of the runs, vs 4 float32 copies of
  the scan plus the model (goal ≤ 1). "The model" is its parameters plus the network's working
  memory over as many window passes as the step makes (the allocator's footprint grows over
  the first passes), measured alone in fresh processes (median of three): no step can run the
  network in less.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.harness import BenchResult
from benchmarks.synthetic_ct import ct_volume
from containers.common.bundle import BundleSpec, NetworkSpec, save_bundle
from tests.imaging.dicom_factory import SeriesGeometry, write_ct_series

log = logging.getLogger("benchmarks.infer")

FULL_SHAPE = (256, 256, 128)
QUICK_SHAPE = (128, 128, 48)
SPACING = (1.2, 1.2, 2.5)

# Runs in a fresh interpreter so resident memory is the step's own, not earlier benchmarks'.
_CHILD = r"""
import ctypes, gc, json, sys, time
from containers.infer.__main__ import build_parser, run

def rss_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0

split = sys.argv.index("--then")
# A tiny run first loads every lazily imported library (highdicom, matplotlib, fonts), so
# the measurement below is the step's memory for this scan, not one-time library code.
run(build_parser().parse_args(sys.argv[1:split]))
args = build_parser().parse_args(sys.argv[split + 1 :])
# Hand memory freed by the warm-up back to the system, so the baseline is what is live and
# the step cannot hide its own allocations in the warm-up's leftovers.
gc.collect()
ctypes.CDLL("libc.so.6").malloc_trim(0)
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # restart the peak (VmHWM) from the current resident size
before = rss_kib("VmRSS:")
start = time.perf_counter()
report = run(args)
wall = time.perf_counter() - start
print(json.dumps({
    "wall": wall,
    "forward": report.timings.forward_seconds,
    "baseline_kib": before,
    "peak_kib": rss_kib("VmHWM:"),
    "timings": report.timings.model_dump(),
}))
"""


# One window's forward pass, alone in a fresh process: the network's own working memory.
_FORWARD_ALONE = r"""
import ctypes, gc, json, sys, torch
from containers.common.bundle import load_bundle

def rss_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0

bundle = load_bundle(sys.argv[1])
(model,) = bundle.build_models("cpu")
window = torch.zeros(1, 1, *bundle.spec.patch_size)
gc.collect()
ctypes.CDLL("libc.so.6").malloc_trim(0)
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # restart the peak (VmHWM) from the current resident size
before = rss_kib("VmRSS:")
with torch.no_grad():
    for _ in range(int(sys.argv[2])):
        model(window)
print(json.dumps({"forward_kib": rss_kib("VmHWM:") - before}))
"""


def _run_child(code: str, argv: list[str]) -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    if child.returncode != 0:
        raise RuntimeError(f"benchmark child failed: {child.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool) -> list[BenchResult]:
    shape = QUICK_SHAPE if quick else FULL_SHAPE
    work = Path(tempfile.mkdtemp(prefix="bench-infer-"))
    try:
        write_ct_series(work / "DICOM", ct_volume(shape), SeriesGeometry(spacing=SPACING))
        write_ct_series(work / "WARMUP", ct_volume((32, 32, 8)), SeriesGeometry(spacing=SPACING))
        spec = BundleSpec(
            model_name="default_unet",
            network=NetworkSpec(name="UNet"),
            labels={"liver": 1, "spleen": 2, "kidney": 3},
        )
        network = spec.build_network()
        model_bytes = sum(p.numel() * p.element_size() for p in network.parameters())
        save_bundle(work / "model", spec, network.state_dict())
        argv = ["--input", str(work / "DICOM"), "--model", str(work / "model"),
                "--output", str(work / "out"), "--device", "cpu"]  # fmt: skip
        warmup = ["--input", str(work / "WARMUP"), "--model", str(work / "model"),
                  "--output", str(work / "warmup-out"), "--device", "cpu"]  # fmt: skip
        runs: list[dict[str, Any]] = []
        for attempt in range(1 if quick else 3):
            shutil.rmtree(work / "out", ignore_errors=True)
            shutil.rmtree(work / "warmup-out", ignore_errors=True)
            runs.append(_run_child(_CHILD, [*warmup, "--then", *argv]))
            log.info("infer run %d: %s", attempt + 1, runs[-1]["timings"])
        # The network alone, run as many times as the step runs it (the allocator's footprint
        # grows over the first passes), with nothing else held; it varies by ±20 % from
        # run to run: the median of three.
        windows = str(runs[0]["timings"]["windows"])
        forwards = sorted(
            int(_run_child(_FORWARD_ALONE, [str(work / "model"), windows])["forward_kib"])
            for _ in range(3)
        )
        forward_bytes = forwards[1] * 1024
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = "×".join(str(n) for n in shape)
    runs.sort(key=lambda run: (run["wall"] - run["forward"]) / run["forward"])
    result = runs[len(runs) // 2]
    rest = result["wall"] - result["forward"]
    # Memory: the largest of the runs.
    step_memory = max((run["peak_kib"] - run["baseline_kib"]) * 1024 for run in runs)
    budget = 4 * 4 * shape[0] * shape[1] * shape[2] + model_bytes + forward_bytes
    return [
        BenchResult(
            f"infer step {size}: all but forward passes vs forward passes",
            rest,
            result["forward"],
            "<=0.25",
            note=f"wall {result['wall']:.1f} s, CPU, median of {len(runs)} run(s)",
        ),
        BenchResult(
            f"infer step {size}: peak memory vs 4×float32 scan + model",
            step_memory / 2**20,
            budget / 2**20,
            "<=1",
            unit="MiB",
            note=f"model: {model_bytes / 2**20:.0f} MiB weights + "
            f"{forward_bytes / 2**20:.0f} MiB for its {windows} window passes alone",
        ),
    ]
