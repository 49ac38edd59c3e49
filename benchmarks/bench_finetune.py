"""Fine-tuning vs training from scratch on a new site's few sessions (held-out Dice).

A model is trained on site A's sessions (`python -m containers.train`, as users run it on an
XNAT-layout archive). Then, on two sessions of site B (another scanner: pixel spacing, slice
thickness, pixel encoding), the same step trains twice for the same number of epochs: once
`--init-from` that model, once from scratch. Both segment three held-out site-B sessions of new
subjects through the infer step; the ratio is the fine-tuned model's mean Dice over the one
trained from scratch (goal > 1).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.bench_train_quality import held_out_dice, write_project_archive
from benchmarks.harness import BenchResult

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]


def _train(project: Path, output: Path, name: str, epochs: int, *extra: str) -> Path:
    """One train step (one subject-level split) as users run it; the bundle's folder."""
    subprocess.run(
        [sys.executable, "-m", "containers.train", "--project", "SYN", "--model-name", name,
         "--output", str(output), "--project-dir", str(project), "--epochs", str(epochs),
         "--folds", "1", "--device", "cpu", "--seed", "0", *extra],
        cwd=REPO, check=True, timeout=7200, capture_output=True,
    )  # fmt: skip
    return output / name


def _epochs_run(bundle: Path) -> int:
    return int(
        json.loads((bundle / "report" / "report.json").read_text())["folds"][0]["epochs_run"]
    )


def _mean(scores: list[dict[str, float]]) -> float:
    return float(np.mean([np.mean(list(s.values())) for s in scores]))


def run(quick: bool) -> list[BenchResult]:
    parent_epochs, epochs = (6, 3) if quick else (20, 6)
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as scratch:
        root = Path(scratch)
        # Odd sessions are site A, even ones site B (two sites in turn).
        site_a = write_project_archive(root / "A", range(1, 13, 2))
        site_b = write_project_archive(root / "B", range(2, 6, 2))
        unseen_b = write_project_archive(root / "UNSEEN", range(102, 108, 2))
        parent = _train(site_a, root / "out", "site_a", parent_epochs)
        tuned = _train(site_b, root / "out", "tuned", epochs, "--init-from", str(parent))
        fresh = _train(site_b, root / "out", "fresh", epochs)
        tuned_scores = held_out_dice(tuned, unseen_b, root / "infer-tuned")
        fresh_scores = held_out_dice(fresh, unseen_b, root / "infer-fresh")
        runs = (_epochs_run(parent), _epochs_run(tuned), _epochs_run(fresh))
    note = (
        f"parent {runs[0]} epochs on 6 site-A sessions; then on 2 site-B sessions, fine-tuned "
        f"{runs[1]} and from scratch {runs[2]} epochs; Dice on 3 held-out site-B sessions: "
        f"fine-tuned {_mean(tuned_scores):.3f}, from scratch {_mean(fresh_scores):.3f}"
    )
    log.info("fine-tune: %s", note)
    return [
        BenchResult(
            name="finetune_vs_scratch_dice" + ("_quick" if quick else ""),
            ours=_mean(tuned_scores),
            reference=_mean(fresh_scores),
            goal=">1.0",
            unit="Dice",
            note=note,
        )
    ]
