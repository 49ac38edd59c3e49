"""The trained model as a MONAI bundle (written whole or not at all through
`containers.common.step.staged_output`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from containers.common.bundle import BundleSpec, NetworkSpec, save_bundle
from containers.common.bundle_spec import InfererSpec, LossSpec
from containers.common.model_card import card_markdown
from containers.common.networks import complete_kwargs, default_kwargs
from containers.train.cases import TrainingCase
from containers.train.data_plan import DataPlan
from containers.train.report import write_report
from containers.train.settings import TrainSettings
from containers.train.trainer import FoldResult

# 26-connectivity, as the infer step's clean-up counts islands.
_FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)


def label_components(cases: Sequence[TrainingCase], labels: dict[str, int]) -> dict[str, int]:
    """How many separate pieces each label has in the references (the median over cases),
    counting only pieces of at least 5 % of the label's volume: specks are annotation noise.
    Infer's clean-up keeps that many islands, so paired organs under one label survive it."""
    counts: dict[str, list[int]] = {name: [] for name in labels}
    for case in cases:
        for name, value in labels.items():
            components, count = ndimage.label(case.label == value, structure=_FULL_CONNECTIVITY)
            if count == 0:
                continue
            sizes = np.bincount(components.ravel())[1:]
            counts[name].append(int(np.count_nonzero(sizes >= 0.05 * sizes.sum())))
    return {name: int(np.median(found)) for name, found in counts.items() if found}


def bundle_spec(
    settings: TrainSettings,
    network_kwargs: dict[str, Any],
    plan: DataPlan,
    labels: dict[str, int],
    training: dict[str, Any],
    components: dict[str, int] | None = None,
) -> BundleSpec:
    return BundleSpec(
        model_name=settings.model_name,
        description=f"{settings.network} segmentation of {', '.join(labels)} (xnat-monai train)",
        # Every constructor argument, not only those given: the bundle is the whole model.
        network=NetworkSpec(
            name=settings.network,
            kwargs=complete_kwargs(
                settings.network,
                {**default_kwargs(settings.network, settings.patch_size), **network_kwargs},
            ),
        ),
        loss=LossSpec(name=settings.loss, kwargs=settings.loss_kwargs),
        labels=labels,
        spacing=plan.spacing,
        orientation=plan.orientation,
        normalization=plan.window,
        patch_size=settings.patch_size,
        # Infer slides its window as validation did when the best model was chosen.
        inferer=InfererSpec(overlap=settings.val_overlap),
        components=components or {},
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
    # The model card, where the model zoo keeps it; built from the metadata just written.
    metadata = json.loads((folder / "configs" / "metadata.json").read_text())
    (folder / "docs").mkdir(exist_ok=True)
    (folder / "docs" / "README.md").write_text(card_markdown(metadata))
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
