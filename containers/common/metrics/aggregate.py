"""How per-case figures become one summary row: which cases count, and the statistics.

Rules (see README.md):
- cases whose reference is empty for the label are left out unless `include_empty_reference`
  (a Dice of 0 or NaN there measures false positives, not segmentation quality);
- NaN values (undefined, e.g. both masks empty) are left out and counted in `n_undefined`;
- +inf distances (one mask empty) are left out of mean/SD/CI, counted in `n_infinite`; the
  median and IQR keep them, so a label missed in many cases still shows in its median.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Summary:
    n: int
    n_undefined: int
    n_infinite: int
    mean: float
    median: float
    sd: float
    q1: float
    q3: float
    iqr: float
    ci95_low: float
    ci95_high: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def bootstrap_mean_ci(
    values: np.ndarray, seed: int = 0, resamples: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean, reproducible for a given `seed`."""
    if len(values) == 0:
        return math.nan, math.nan
    if len(values) == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(values), size=(resamples, len(values)))
    means = values[draws].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def _quartiles(values: np.ndarray) -> tuple[float, float, float]:
    """Q1, median, Q3 where +inf may occur: interpolating towards +inf gives +inf."""
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    # np.percentile turns inf - inf into NaN; a huge finite stand-in keeps the order instead.
    huge = np.finfo(np.float64).max / 4
    quartiles = np.percentile(np.minimum(values, huge), [25, 50, 75])
    q1, median, q3 = (math.inf if q >= huge * 1e-3 else float(q) for q in quartiles)
    return q1, median, q3


def summarise(values: Sequence[float], seed: int = 0) -> Summary:
    """Statistics of one metric over cases (the values already chosen by `cases_for_label`)."""
    array = np.asarray(values, dtype=np.float64)
    defined = array[~np.isnan(array)]
    finite = defined[np.isfinite(defined)]
    n_infinite = int(len(defined) - len(finite))
    q1, median, q3 = _quartiles(defined)
    low, high = bootstrap_mean_ci(finite, seed=seed)
    return Summary(
        n=int(len(defined)),
        n_undefined=int(len(array) - len(defined)),
        n_infinite=n_infinite,
        mean=float(finite.mean()) if len(finite) else math.nan,
        median=median,
        sd=float(finite.std(ddof=1)) if len(finite) > 1 else math.nan,
        q1=q1,
        q3=q3,
        iqr=q3 - q1,
        ci95_low=low,
        ci95_high=high,
    )


def values_for_summary(
    rows: Sequence[dict[str, object]],
    metric: str,
    include_empty_reference: bool = False,
) -> list[float]:
    """The metric's values over per-case rows of one label, empty-reference cases dropped."""
    chosen: list[float] = []
    for row in rows:
        if row.get("reference_empty") and not include_empty_reference:
            continue
        value = row.get(metric)
        chosen.append(math.nan if value is None else float(value))  # type: ignore[arg-type]
    return chosen
