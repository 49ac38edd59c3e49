"""Local mode: compare two label files (NIfTI or DICOM SEG) and write metrics.json/.csv."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from containers.common.metrics import compute_label_metrics
from containers.common.step import StepRecord, staged_output
from containers.evaluate.alignment import align_to_reference
from containers.evaluate.label_choice import labels_found, parse_labels_option
from containers.evaluate.label_sources import load_labels
from containers.evaluate.metrics_files import write_metrics_csv, write_metrics_json
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalRequest:
    reference: Path
    prediction: Path
    output: Path
    labels: str | None = None
    image: Path | None = None
    tolerance_mm: float = 1.0


def run_local(request: LocalRequest) -> Path:
    """Compute and write the metrics; returns the output folder."""
    if request.tolerance_mm < 0:
        raise UserError(f"--tolerance-mm {request.tolerance_mm} must be 0 or more")
    provenance = StepRecord("evaluate-local")
    chosen = parse_labels_option(request.labels) if request.labels else None
    reference = load_labels(request.reference, request.image, chosen)
    by_name = chosen or reference.labels or None
    prediction = load_labels(request.prediction, request.image, by_name)
    aligned = align_to_reference(reference, prediction)
    labels = by_name or labels_found(reference.array, aligned)
    log.info(
        "comparing %d labels on a %s grid, spacing %s mm",
        len(labels),
        "×".join(map(str, reference.array.shape)),
        ", ".join(f"{s:.3g}" for s in reference.spacing),
    )
    metrics = compute_label_metrics(
        reference.array, aligned, reference.spacing, labels, request.tolerance_mm
    )
    provenance.add_input("reference", request.reference)
    provenance.add_input("prediction", request.prediction)
    with staged_output(request.output) as staging:
        context = {
            "mode": "local",
            "reference": str(request.reference),
            "prediction": str(request.prediction),
            "tolerance_mm": request.tolerance_mm,
            "spacing_mm": list(reference.spacing),
        }
        write_metrics_json(
            staging / "metrics.json", metrics, context=context, provenance=provenance.as_dict()
        )
        write_metrics_csv(staging / "metrics.csv", metrics)
    for name, m in metrics.items():
        log.info("%s: Dice %.4f, HD95 %.2f mm", name, m.dice, m.hausdorff95_mm)
    return request.output
