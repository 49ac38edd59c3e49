"""The training report in the bundle's `report/`: curves, a per-fold table, TensorBoard events.

`report.json` is the machine-readable summary (per-fold metrics, per-epoch history, data list);
`loss.png` and `dice.png` the curves; `folds.md` the table people read; `tensorboard/` the event
files for anyone who prefers TensorBoard.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from containers.train.trainer import FoldResult  # noqa: E402

log = logging.getLogger(__name__)


def fold_summary(result: FoldResult) -> dict[str, Any]:
    return {
        "fold": result.index,
        "best_dice": round(result.best_dice, 4),
        "best_epoch": result.best_epoch,
        "best_dice_per_label": {k: round(v, 4) for k, v in result.best_dice_per_label.items()},
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "resumed_from_epoch": result.resumed_from_epoch,
        "train_sessions": result.train_sessions,
        "validation_sessions": result.validation_sessions,
    }


def write_report(
    directory: Path, results: Sequence[FoldResult], extra: dict[str, Any]
) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    folds = [fold_summary(r) for r in results]
    mean_dice = sum(r.best_dice for r in results) / len(results) if results else 0.0
    report = {
        "mean_validation_dice": round(mean_dice, 4),
        "folds": folds,
        "history": {f"fold_{r.index}": [asdict(e) for e in r.history] for r in results},
        **extra,
    }
    (directory / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (directory / "folds.md").write_text(_fold_table(results, mean_dice))
    _plot(directory / "loss.png", results, "loss", "training loss (Dice + CE)")
    _plot(directory / "dice.png", results, "dice", "validation mean Dice")
    _tensorboard(directory / "tensorboard", results)
    return report


def _fold_table(results: Sequence[FoldResult], mean_dice: float) -> str:
    labels = list(results[0].best_dice_per_label) if results else []
    head = ["fold", "best epoch", "mean Dice", *labels, "validation sessions"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [
            str(r.index),
            str(r.best_epoch),
            f"{r.best_dice:.3f}",
            *(f"{r.best_dice_per_label.get(label, 0.0):.3f}" for label in labels),
            ", ".join(r.validation_sessions),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"\nMean validation Dice over folds: {mean_dice:.3f}\n")
    return "\n".join(lines)


def _plot(path: Path, results: Sequence[FoldResult], field: str, title: str) -> None:
    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    for r in results:
        epochs = [e.epoch for e in r.history]
        axes.plot(
            epochs, [getattr(e, field) for e in r.history], marker="o", label=f"fold {r.index}"
        )
    axes.set_xlabel("epoch")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _tensorboard(directory: Path, results: Sequence[FoldResult]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    for r in results:
        writer = SummaryWriter(log_dir=str(directory / f"fold_{r.index}"))
        try:
            for e in r.history:
                writer.add_scalar("train/loss", e.loss, e.epoch)
                writer.add_scalar("train/learning_rate", e.learning_rate, e.epoch)
                writer.add_scalar("validation/mean_dice", e.dice, e.epoch)
                for label, value in e.dice_per_label.items():
                    writer.add_scalar(f"validation/dice_{label}", value, e.epoch)
        finally:
            writer.close()
