"""Held-out Dice of `containers.train` on a 12-session, 2-site synthetic project in a CPU budget.

The train step runs as users run it (`--project-dir` on an XNAT-layout archive, 10-minute
budget, one subject-level split); its bundle then segments 3 sessions of NEW subjects (never
seen in training or model selection) through the infer step, and the mean Dice over
liver/spleen/kidney against their manual SEGs is compared with the goal 0.85. The infer step
runs with `--no-largest-component`: the `kidney` label holds both kidneys, and keeping only the
largest island would drop one (measured: kidney Dice 0.67 with it, the model's own is higher).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import BenchResult
from containers.common.dicom_series import read_series
from containers.common.seg_reader import find_seg_file, read_seg
from xnat_plugin.sandbox.seed.ct_series import SeriesIdentity, write_ct_series
from xnat_plugin.sandbox.seed.manual_seg import write_manual_seg
from xnat_plugin.sandbox.seed.phantom import make_phantom
from xnat_plugin.sandbox.seed.seeding import session_label_for, subject_label_for, subject_seed
from xnat_plugin.sandbox.seed.sites import site_for_session

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
GOAL_DICE = 0.85
LABELS = {"liver": 1, "spleen": 2, "kidney": 3}


def write_project_archive(root: Path, indices: range, *, seed: int = 0, sites: int = 2) -> Path:
    """Sessions `indices` as XNAT's archive lays them out (scan DICOM + manual SEG assessor)."""
    for index in indices:
        subject, session = subject_label_for(index), session_label_for(index)
        own_seed = subject_seed(seed, index)
        phantom = make_phantom(own_seed, site_for_session(index, sites))
        identity = SeriesIdentity.for_subject(own_seed, subject, session)
        folder = root / "arc001" / session
        ct_files = write_ct_series(phantom, folder / "SCANS" / "1" / "DICOM", identity)
        label = f"{session}_manual_SEG"
        (folder / "ASSESSORS" / label / "SEG").mkdir(parents=True)
        write_manual_seg(phantom, ct_files, folder / "ASSESSORS" / label / "SEG" / f"{label}.dcm")
    return root


def dice_per_label(prediction: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    scores = {}
    for name, value in LABELS.items():
        p, r = prediction == value, reference == value
        total = int(p.sum() + r.sum())
        scores[name] = 2.0 * int((p & r).sum()) / total if total else 1.0
    return scores


def held_out_dice(bundle: Path, archive: Path, work: Path) -> list[dict[str, float]]:
    """Run the infer step on every session in `archive`; Dice of its SEG vs the manual SEG."""
    results = []
    for session in sorted((archive / "arc001").iterdir()):
        dicom = session / "SCANS" / "1" / "DICOM"
        out = work / session.name
        subprocess.run(
            [sys.executable, "-m", "containers.infer", "--input", str(dicom), "--model",
             str(bundle), "--output", str(out), "--device", "cpu", "--no-largest-component"],
            cwd=REPO, check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        series = read_series(dicom)
        predicted = read_seg(find_seg_file(out / "SEG"), series, labels=LABELS).array
        manual_dir = next((session / "ASSESSORS").glob("*/SEG"))
        reference = read_seg(find_seg_file(manual_dir), series, labels=LABELS).array
        results.append(dice_per_label(predicted, reference))
    return results


def train(project: Path, output: Path, minutes: float, epochs: int) -> tuple[Path, float]:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "containers.train", "--project", "SYN", "--model-name", "quality",
         "--output", str(output), "--project-dir", str(project), "--epochs", str(epochs),
         "--max-minutes", str(minutes), "--device", "cpu", "--seed", "0"],
        cwd=REPO, check=True, timeout=int(minutes * 60 * 2 + 600),
    )  # fmt: skip
    return output / "quality", time.perf_counter() - started


def run(quick: bool) -> list[BenchResult]:
    minutes, epochs = (2.0, 6) if quick else (10.0, 30)
    with tempfile.TemporaryDirectory(prefix="bench-train-quality-") as scratch:
        root = Path(scratch)
        project = write_project_archive(root / "SYN", range(1, 13))
        unseen = write_project_archive(root / "UNSEEN", range(101, 104))
        bundle, seconds = train(project, root / "out", minutes, epochs)
        report = json.loads((bundle / "report" / "report.json").read_text())
        scores = held_out_dice(bundle, unseen, root / "infer")
    mean = float(np.mean([np.mean(list(s.values())) for s in scores]))
    per_label = {k: round(float(np.mean([s[k] for s in scores])), 3) for k in LABELS}
    fold = report["folds"][0]
    note = (
        f"unseen-subject Dice per label {per_label}; validation-fold Dice "
        f"{fold['best_dice']:.3f} at epoch {fold['best_epoch']}/{fold['epochs_run']}; "
        f"train step wall {seconds:.0f} s with a {minutes:.0f}-min budget"
    )
    log.info("train quality: %s", note)
    return [
        BenchResult(
            name="train_heldout_dice" + ("_quick" if quick else ""),
            ours=mean,
            reference=GOAL_DICE,
            goal=">=1.0",
            unit="Dice",
            note=note,
        )
    ]
