"""Binary classification figures (`containers/common/metrics/classification.py`) against
scikit-learn on fixed inputs, DeLong against its pairwise definition, and the undefined cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as sk
from sklearn.calibration import calibration_curve

from containers.common.metrics.classification import (
    UndefinedMetric,
    auc_bootstrap_interval,
    auc_delong_interval,
    calibration,
    confusion_matrix,
    delong_paired_test,
    delong_unpaired_test,
    operating_point,
    roc_auc,
    roc_curve,
    youden_point,
)


def cases(n: int = 60, seed: int = 1, separation: float = 1.2, ties: bool = True):
    """Scores in [0, 1] of a moderately good classifier; rounded so that some tie."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.45).astype(int)
    logits = rng.normal(0, 1, n) + separation * y
    s = 1 / (1 + np.exp(-logits))
    return y, (np.round(s, 1) if ties else s)


def pairwise_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """DeLong, DeLong & Clarke-Pearson (1988) written as in the paper: the kernel over every
    positive-negative pair, then the covariance of the structural components."""

    def parts(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos, neg = s[y == 1], s[y == 0]
        kernel = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return kernel.mean(axis=1), kernel.mean(axis=0)

    (a10, a01), (b10, b01) = parts(a), parts(b)
    m, n = len(a10), len(a01)
    cov = np.cov([a10, b10]) / m + np.cov([a01, b01]) / n
    return float(cov[0, 0]), float(cov[1, 1]), float(cov[0, 1])


def test_auc_and_the_roc_curve_equal_scikit_learns_with_ties():
    y, s = cases()
    assert len(np.unique(s)) < len(s)  # the inputs do tie
    assert roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, thresholds = sk.roc_curve(y, s, drop_intermediate=False)
    curve = roc_curve(y, s)
    np.testing.assert_allclose(curve.false_positive_rate, fpr)
    np.testing.assert_allclose(curve.true_positive_rate, tpr)
    np.testing.assert_array_equal(curve.thresholds, thresholds)


def test_known_answers_for_small_inputs():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5
    assert roc_auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0


def test_sensitivity_specificity_and_youden_agree_with_scikit_learn():
    y, s = cases(seed=3)
    point = operating_point(y, s, 0.5)
    tn, fp, fn, tp = sk.confusion_matrix(y, (s >= 0.5).astype(int)).ravel()
    assert (point.true_positive, point.false_positive) == (tp, fp)
    assert (point.true_negative, point.false_negative) == (tn, fn)
    assert point.sensitivity == pytest.approx(sk.recall_score(y, s >= 0.5))
    assert point.specificity == pytest.approx(tn / (tn + fp))
    fpr, tpr, thresholds = sk.roc_curve(y, s, drop_intermediate=False)
    best = youden_point(y, s)
    assert best.sensitivity + best.specificity - 1 == pytest.approx(float(np.max(tpr - fpr)))
    assert best.threshold in thresholds


def test_the_confusion_matrix_equals_scikit_learns_in_the_given_class_order():
    truth = ["a", "b", "c", "a", "b", "c", "c"]
    predicted = ["a", "c", "c", "b", "b", "a", "c"]
    classes = ["c", "a", "b"]
    expected = sk.confusion_matrix(truth, predicted, labels=classes).tolist()
    assert confusion_matrix(truth, predicted, classes) == expected
    with pytest.raises(ValueError, match=r"classes \['d'\] are not among"):
        confusion_matrix(["a"], ["d"], classes)


def test_calibration_bins_ece_and_brier_equal_scikit_learns():
    y, s = cases(n=200, seed=5, ties=False)
    s = np.append(s, [0.3, 0.7])  # scores on inner edges go to the lower bin, as there
    y = np.append(y, [1, 0])
    result = calibration(y, s, n_bins=10)
    observed, predicted = calibration_curve(y, s, n_bins=10, strategy="uniform")
    np.testing.assert_allclose([b.observed_fraction for b in result.bins], observed)
    np.testing.assert_allclose([b.mean_score for b in result.bins], predicted)
    assert result.brier_score == pytest.approx(sk.brier_score_loss(y, s))
    counts = np.array([b.cases for b in result.bins])
    assert result.expected_calibration_error == pytest.approx(
        float(np.sum(counts / len(y) * np.abs(observed - predicted)))
    )
    perfect = calibration([0, 1, 1, 0], [0.0, 1.0, 1.0, 0.0])
    assert perfect.expected_calibration_error == 0 and perfect.brier_score == 0


def test_delong_matches_its_pairwise_definition_and_a_paired_test_of_two_models():
    y, a = cases(n=80, seed=7)
    _, b = cases(n=80, seed=8, separation=0.4)
    var_a, var_b, cov = pairwise_delong(y, a, b)
    interval = auc_delong_interval(y, a)
    half = 1.959963984540054 * math.sqrt(var_a)
    assert interval.low == pytest.approx(interval.estimate - half)
    assert interval.high == pytest.approx(min(1.0, interval.estimate + half))
    test = delong_paired_test(y, a, b)
    assert test.auc_a == pytest.approx(sk.roc_auc_score(y, a))
    assert test.auc_b == pytest.approx(sk.roc_auc_score(y, b))
    z = (test.auc_a - test.auc_b) / math.sqrt(var_a + var_b - 2 * cov)
    assert test.z == pytest.approx(z)
    assert test.p_value == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(abs(z) / math.sqrt(2)))))
    same = delong_paired_test(y, a, a)
    assert (same.z, same.p_value) == (0.0, 1.0)


def test_unpaired_delong_between_two_sites_adds_the_variances():
    ya, sa = cases(n=50, seed=11)
    yb, sb = cases(n=70, seed=12, separation=0.3)
    va, _, _ = pairwise_delong(ya, sa, sa)
    vb, _, _ = pairwise_delong(yb, sb, sb)
    test = delong_unpaired_test(ya, sa, yb, sb)
    assert test.z == pytest.approx((test.auc_a - test.auc_b) / math.sqrt(va + vb))
    assert not test.paired


def test_the_bootstrap_interval_is_reproducible_and_close_to_delongs():
    y, s = cases(n=150, seed=13, ties=False)
    boot = auc_bootstrap_interval(y, s, replicates=1000, seed=4)
    assert boot == auc_bootstrap_interval(y, s, replicates=1000, seed=4)
    assert boot.low < boot.estimate < boot.high
    delong = auc_delong_interval(y, s)
    assert boot.high - boot.low == pytest.approx(delong.high - delong.low, rel=0.2)


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([], [], "ROC AUC needs cases: there are none"),
        ([1, 1, 1], [0.2, 0.4, 0.9], "needs positive and negative cases, got 3 positive and 0"),
        ([0, 0], [0.2, 0.4], "got 0 positive and 2 negative"),
    ],
)
def test_no_cases_or_one_class_is_refused_with_one_line(labels, scores, message):
    for figure in (roc_auc, auc_delong_interval, auc_bootstrap_interval, roc_curve, youden_point):
        with pytest.raises(UndefinedMetric) as refused:
            figure(labels, scores)
        assert "\n" not in str(refused.value)
    with pytest.raises(UndefinedMetric, match=message):
        roc_auc(labels, scores)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="0 or 1"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="one length"):
        roc_auc([0, 1], [0.1])
    with pytest.raises(ValueError, match="finite"):
        roc_auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match=r"probabilities, in \[0, 1\]"):
        calibration([0, 1], [0.1, 1.2])
    with pytest.raises(UndefinedMetric, match="calibration needs cases"):
        calibration([], [])
