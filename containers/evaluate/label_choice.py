"""Which labels to compare: `--labels name=value,…`, else the names the files give, else every
value found in either map (named `label_<value>`)."""

from __future__ import annotations

import numpy as np

from xnat_plugin.errors import UserError


def parse_labels_option(text: str) -> dict[str, int]:
    labels: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip().isdigit():
            raise UserError(
                f"--labels item {item!r} is not name=value: write e.g. liver=1,spleen=2"
            )
        number = int(value)
        if not 1 <= number <= 255:
            raise UserError(f"--labels value {number} for {name} must be between 1 and 255")
        labels[name.strip()] = number
    if not labels:
        raise UserError("--labels is empty: write e.g. liver=1,spleen=2 or leave it out")
    return labels


def labels_found(*label_maps: np.ndarray) -> dict[str, int]:
    values: set[int] = set()
    for array in label_maps:
        values |= {int(v) for v in np.unique(array) if v}
    return {f"label_{v}": v for v in sorted(values)}
