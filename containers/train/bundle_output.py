"""The trained model as a MONAI bundle, written whole or not at all.

The bundle is assembled in a hidden `.partial-*` folder inside --output (often a mount point that
cannot itself be renamed) and moved to `--output/<model-name>/` only once every file is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from containers.common.bundle import BundleSpec, NetworkSpec, save_bundle
from containers.train.cases import TrainingCase
from containers.train.data_plan import DataPlan
from containers.train.report import write_report
from containers.train.settings import TrainSettings
from containers.train.trainer import FoldResult


@contextmanager
def staged_bundle_folder(output: Path, model_name: str) -> Iterator[Path]:
    """Yield a staging folder; on success it becomes `output/model_name`, on error it vanishes."""
    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=output))
    try:
        yield staging
        final = output / model_name
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def bundle_spec(
    settings: TrainSettings,
    network_kwargs: dict[str, Any],
    plan: DataPlan,
    labels: dict[str, int],
    training: dict[str, Any],
) -> BundleSpec:
    return BundleSpec(
        model_name=settings.model_name,
        description=f"{settings.network} segmentation of {', '.join(labels)} (xnat-monai train)",
        network=NetworkSpec(name=settings.network, kwargs=network_kwargs),
        labels=labels,
        spacing=plan.spacing,
        orientation=plan.orientation,
        normalization=plan.window,
        patch_size=settings.patch_size,
        training=training,
    )


def write_bundle(
    folder: Path,
    spec: BundleSpec,
    results: Sequence[FoldResult],
    report_extra: dict[str, Any],
) -> Path:
    """models/model.pt = the best fold's model; with several folds, one model per fold too."""
    best = max(range(len(results)), key=lambda k: results[k].best_dice)
    states = [r.best_state for r in results]
    save_bundle(folder, spec, states if len(states) > 1 else states[0], primary=best)
    write_report(folder / "report", results, report_extra)
    return folder


def data_list(cases: Sequence[TrainingCase]) -> list[dict[str, str]]:
    return [
        {
            "session": c.session_label,
            "uri": c.session_uri,
            "subject": c.subject,
            "site": c.site,
            "reference": c.reference_label,
            "sha256": c.checksum,
        }
        for c in cases
    ]
