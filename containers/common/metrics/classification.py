"""Figures of a binary classifier over a set of cases: discrimination (ROC AUC with DeLong and
bootstrap 95 % intervals), the operating point (sensitivity, specificity at a threshold and at
Youden's), the confusion matrix, calibration (reliability bins, ECE, Brier score) and DeLong's
tests between two AUCs (paired: two models on the same cases; unpaired: two sites).

Conventions, each the one scikit-learn uses so the numbers can be checked against it:

- `labels` are 1 (positive class) or 0; `scores` the predicted probability of the positive class;
  a case is called positive when its score is **at least** the threshold.
- AUC is the Mann-Whitney statistic, ties counting one half (`roc_auc_score`).
- The ROC curve's thresholds are the distinct scores, high to low, after `inf` (`roc_curve`
  with `drop_intermediate=False`).
- Reliability bins are `n_bins` equal-width bins of [0, 1]; a score on an inner edge falls in
  the lower bin (`calibration_curve(strategy="uniform")`). ECE is the case-weighted mean of
  |observed fraction - mean score| over the bins that hold cases.

DeLong's variance uses the structural components (DeLong, DeLong & Clarke-Pearson 1988), computed
from mid-ranks (Sun & Xu 2014) in O(n log n). Its interval is AUC ± 1.96 SE, clipped to [0, 1].
The bootstrap resamples positives and negatives separately (stratified, so every replicate has
both classes) and takes the 2.5th and 97.5th percentiles.

Undefined figures raise `UndefinedMetric` with one line saying why (no cases, one class only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from xnat_plugin.errors import UserError

Z_95 = float(stats.norm.ppf(0.975))
BOOTSTRAP_REPLICATES = 2000


class UndefinedMetric(UserError):
    """A figure that the cases cannot give (no cases, or one class only)."""


def _checked(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray):
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be two lists of one length")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers")
    return y.astype(int), s


def _both_classes(y: np.ndarray, figure: str) -> None:
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if positives == 0 or negatives == 0:
        if len(y) == 0:
            raise UndefinedMetric(f"{figure} needs cases: there are none")
        raise UndefinedMetric(
            f"{figure} needs positive and negative cases, got {positives} positive and "
            f"{negatives} negative"
        )


def _components(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components: for each positive, the share of negatives it outscores
    (ties one half); for each negative, the share of positives that outscore it."""
    positives, negatives = s[y == 1], s[y == 0]
    m, n = len(positives), len(negatives)
    all_ranks = stats.rankdata(np.concatenate([positives, negatives]))
    v10 = (all_ranks[:m] - stats.rankdata(positives)) / n
    v01 = 1.0 - (all_ranks[m:] - stats.rankdata(negatives)) / m
    return v10, v01


def roc_auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    y, s = _checked(labels, scores)
    _both_classes(y, "ROC AUC")
    v10, _ = _components(y, s)
    return float(v10.mean())


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    method: str


def _delong_variance(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    v10, v01 = _components(y, s)
    m, n = len(v10), len(v01)
    s10 = float(np.var(v10, ddof=1)) if m > 1 else 0.0
    s01 = float(np.var(v01, ddof=1)) if n > 1 else 0.0
    return float(v10.mean()), s10 / m + s01 / n


def auc_delong_interval(labels, scores) -> Interval:
    y, s = _checked(labels, scores)
    _both_classes(y, "ROC AUC")
    auc, variance = _delong_variance(y, s)
    half = Z_95 * math.sqrt(variance)
    return Interval(auc, max(0.0, auc - half), min(1.0, auc + half), "DeLong")


def auc_bootstrap_interval(
    labels, scores, *, replicates: int = BOOTSTRAP_REPLICATES, seed: int = 0
) -> Interval:
    y, s = _checked(labels, scores)
    _both_classes(y, "ROC AUC")
    positives, negatives = s[y == 1], s[y == 0]
    rng = np.random.default_rng(seed)
    m, n = len(positives), len(negatives)
    sample_y = np.concatenate([np.ones(m, dtype=int), np.zeros(n, dtype=int)])
    aucs = np.empty(replicates)
    for k in range(replicates):
        resampled = np.concatenate(
            [positives[rng.integers(0, m, m)], negatives[rng.integers(0, n, n)]]
        )
        aucs[k] = _components(sample_y, resampled)[0].mean()
    low, high = np.percentile(aucs, [2.5, 97.5])
    return Interval(roc_auc(y, s), float(low), float(high), f"bootstrap ({replicates}, stratified)")


@dataclass(frozen=True)
class RocCurve:
    false_positive_rate: list[float]
    true_positive_rate: list[float]
    thresholds: list[float]


def roc_curve(labels, scores) -> RocCurve:
    y, s = _checked(labels, scores)
    _both_classes(y, "a ROC curve")
    thresholds = np.concatenate([[np.inf], np.unique(s)[::-1]])
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    tpr = [float(((s >= t) & (y == 1)).sum() / positives) for t in thresholds]
    fpr = [float(((s >= t) & (y == 0)).sum() / negatives) for t in thresholds]
    return RocCurve(fpr, tpr, [float(t) for t in thresholds])


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    sensitivity: float
    specificity: float
    true_positive: int
    false_positive: int
    true_negative: int
    false_negative: int


def operating_point(labels, scores, threshold: float) -> OperatingPoint:
    y, s = _checked(labels, scores)
    _both_classes(y, "sensitivity and specificity")
    called = s >= threshold
    tp, fp = int((called & (y == 1)).sum()), int((called & (y == 0)).sum())
    tn, fn = int((~called & (y == 0)).sum()), int((~called & (y == 1)).sum())
    return OperatingPoint(threshold, tp / (tp + fn), tn / (tn + fp), tp, fp, tn, fn)


def youden_point(labels, scores) -> OperatingPoint:
    """The threshold among the ROC curve's (finite ones) where sensitivity + specificity - 1 is
    largest; the highest such threshold on a tie."""
    curve = roc_curve(labels, scores)
    j = np.array(curve.true_positive_rate) - np.array(curve.false_positive_rate)
    best = max(range(1, len(j)), key=lambda k: (j[k], curve.thresholds[k]))
    return operating_point(labels, scores, curve.thresholds[best])


def confusion_matrix(
    true_classes: Sequence[str], predicted_classes: Sequence[str], classes: Sequence[str]
) -> list[list[int]]:
    """Rows: the true class, columns: the predicted one, both in the order of `classes`."""
    if len(true_classes) != len(predicted_classes):
        raise ValueError("true and predicted classes must be two lists of one length")
    index = {name: k for k, name in enumerate(classes)}
    unknown = sorted((set(true_classes) | set(predicted_classes)) - set(index))
    if unknown:
        raise ValueError(f"classes {unknown} are not among {list(classes)}")
    matrix = [[0] * len(classes) for _ in classes]
    for truth, predicted in zip(true_classes, predicted_classes, strict=True):
        matrix[index[truth]][index[predicted]] += 1
    return matrix


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    cases: int
    mean_score: float
    observed_fraction: float


@dataclass(frozen=True)
class Calibration:
    bins: list[ReliabilityBin]  # only the bins that hold cases
    expected_calibration_error: float
    brier_score: float


def calibration(labels, scores, *, n_bins: int = 10) -> Calibration:
    y, s = _checked(labels, scores)
    if len(y) == 0:
        raise UndefinedMetric("calibration needs cases: there are none")
    if ((s < 0) | (s > 1)).any():
        raise ValueError("calibration needs scores that are probabilities, in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.searchsorted(edges[1:-1], s)
    bins, ece = [], 0.0
    for k in range(n_bins):
        inside = which == k
        count = int(inside.sum())
        if count == 0:
            continue
        mean_score, observed = float(s[inside].mean()), float(y[inside].mean())
        bins.append(
            ReliabilityBin(float(edges[k]), float(edges[k + 1]), count, mean_score, observed)
        )
        ece += count / len(y) * abs(observed - mean_score)
    return Calibration(bins, float(ece), float(np.mean((s - y) ** 2)))


@dataclass(frozen=True)
class AucComparison:
    auc_a: float
    auc_b: float
    difference: float  # a - b
    z: float
    p_value: float  # two-sided
    paired: bool


def _compared(auc_a: float, auc_b: float, variance: float, paired: bool) -> AucComparison:
    difference = auc_a - auc_b
    if variance <= 0:
        z, p = (0.0, 1.0) if difference == 0 else (math.copysign(math.inf, difference), 0.0)
    else:
        z = difference / math.sqrt(variance)
        p = float(2 * stats.norm.sf(abs(z)))
    return AucComparison(auc_a, auc_b, difference, float(z), p, paired)


def delong_paired_test(labels, scores_a, scores_b) -> AucComparison:
    """Two models' scores on the same cases: DeLong's test of equal AUCs, with the covariance
    of the two AUCs the shared cases bring."""
    y, a = _checked(labels, scores_a)
    _, b = _checked(labels, scores_b)
    _both_classes(y, "DeLong's test")
    a10, a01 = _components(y, a)
    b10, b01 = _components(y, b)
    m, n = len(a10), len(a01)
    s10 = np.cov(np.vstack([a10, b10]), ddof=1) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(np.vstack([a01, b01]), ddof=1) if n > 1 else np.zeros((2, 2))
    covariance = s10 / m + s01 / n
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    return _compared(float(a10.mean()), float(b10.mean()), variance, True)


def delong_unpaired_test(labels_a, scores_a, labels_b, scores_b) -> AucComparison:
    """Two independent groups of cases (two sites): DeLong variances add."""
    ya, sa = _checked(labels_a, scores_a)
    yb, sb = _checked(labels_b, scores_b)
    _both_classes(ya, "DeLong's test (first group)")
    _both_classes(yb, "DeLong's test (second group)")
    auc_a, var_a = _delong_variance(ya, sa)
    auc_b, var_b = _delong_variance(yb, sb)
    return _compared(auc_a, auc_b, var_a + var_b, False)
