"""`metrics.json` and `metrics.csv`: every metric per label, with units, for one comparison.

JSON has no NaN or infinity: an undefined value (NaN) is written as `null` and +inf as the
string `"inf"` (see containers/common/metrics/README.md for when each occurs).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from containers.common.metrics import METRIC_UNITS, LabelMetrics

CONVENTIONS = {
    "surface": "voxel centres of mask XOR erosion (6-neighbourhood), as MONAI",
    "hausdorff95_mm": "max of the two directed 95th percentiles",
    "assd_mm": "mean of the pooled directed distances",
    "both_empty": "null (undefined) for overlap and distance metrics",
    "one_empty": "distances 'inf', Dice 0, NSD 0",
}
METRIC_COLUMNS = tuple(f.name for f in fields(LabelMetrics))


def json_value(value: object) -> object:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


def csv_value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)


def write_metrics_json(
    path: Path,
    metrics: Mapping[str, LabelMetrics],
    *,
    context: Mapping[str, Any],
    provenance: Mapping[str, Any] | None = None,
) -> None:
    document = {
        **context,
        "units": METRIC_UNITS,
        "conventions": CONVENTIONS,
        "labels": {
            name: {key: json_value(value) for key, value in m.as_dict().items()}
            for name, m in metrics.items()
        },
    }
    if provenance is not None:
        document["provenance"] = provenance
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def write_metrics_csv(
    path: Path, metrics: Mapping[str, LabelMetrics], *, case: Mapping[str, str] | None = None
) -> None:
    """One row per label; `case` columns (e.g. session, model) come first on every row."""
    case = dict(case or {})
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*case, *METRIC_COLUMNS])
        for m in metrics.values():
            row = m.as_dict()
            writer.writerow([*case.values(), *(csv_value(row[c]) for c in METRIC_COLUMNS)])
