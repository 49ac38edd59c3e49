"""FROC, CPM, AP, size bins and their bootstrap CIs on hand-made boxes with answers worked out
by hand (the arithmetic is in each test's comment)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from containers.common.metrics.average_precision import average_precision
from containers.common.metrics.boxes import HitRule, box_iou
from containers.common.metrics.detection_cases import ScanDetections, greedy_matches
from containers.common.metrics.detection_figures import DetectionSettings, detection_figures
from containers.common.metrics.froc import froc_curve


def cube(centre: float | tuple[float, float, float], size: float) -> list[float]:
    c = np.broadcast_to(np.asarray(centre, dtype=float), (3,))
    return [*(c - size / 2), *(c + size / 2)]


L1, L2 = cube(5, 10), cube(25, 10)


def _two_scans() -> list[ScanDetections]:
    # Scan A: L1 found at 0.9 (and again at 0.5: a duplicate), L2 found at 0.3, one FP at 0.8.
    # Scan B: one lesion never hit, FPs at 0.7 and 0.6.
    scan_a = ScanDetections.of(
        "A",
        [L1, L2],
        [cube(5, 4), cube(60, 4), cube(26, 4), cube(4, 6)],
        [0.9, 0.8, 0.3, 0.5],
        group="SITE_A",
    )
    scan_b = ScanDetections.of("B", [L1], [cube(60, 4), cube(80, 4)], [0.7, 0.6], group="SITE_B")
    return [scan_a, scan_b]


def test_froc_counts_each_lesion_once_and_duplicates_of_a_found_lesion_as_nothing():
    # Thresholds 0.9 0.8 0.7 0.6 0.3: sensitivity 1/3 from 0.9, 2/3 from 0.3; false
    # positives 1, 2, 3 (0.8, 0.7, 0.6) over 2 scans; the duplicate at 0.5 is no operating point.
    figures = detection_figures(_two_scans(), DetectionSettings(resamples=10))
    curve = figures.froc
    assert curve.lesions == 3 and curve.scans == 2
    np.testing.assert_allclose(curve.fps_per_scan, [0, 0, 0.5, 1.0, 1.5, 1.5])
    np.testing.assert_allclose(curve.sensitivity, [0, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 2 / 3])
    np.testing.assert_allclose(curve.thresholds[1:], [0.9, 0.8, 0.7, 0.6, 0.3])
    # 1/8 .. 1 FP per scan: 1/3; 2, 4, 8: 2/3 (the curve ends at 1.5 FP per scan).
    expected = [1 / 3] * 4 + [2 / 3] * 3
    assert [curve.sensitivity_at(r) for r in (0.125, 0.25, 0.5, 1, 2, 4, 8)] == pytest.approx(
        expected
    )
    assert figures.cpm.value == pytest.approx(10 / 21)


def test_sensitivity_between_operating_points_is_interpolated_as_luna16_does():
    # One scan, one lesion found at 0.5 and a false positive also at 0.5: the curve jumps from
    # (0, 0) straight to (1, 1); halfway, at 0.5 FP per scan, the sensitivity is 0.5.
    curve = froc_curve(np.array([0.5]), np.array([0.5]), scans=1)
    assert curve.sensitivity_at(0.5) == pytest.approx(0.5)
    assert curve.sensitivity_at(0.125) == pytest.approx(0.125)
    assert curve.sensitivity_at(8) == 1.0


def test_no_detection_at_all_gives_zero_sensitivity_and_no_lesion_gives_nan():
    missed = froc_curve(np.array([]), np.array([-math.inf, -math.inf]), scans=3)
    assert missed.cpm() == 0.0
    nothing_to_find = froc_curve(np.array([0.4]), np.array([]), scans=1)
    assert math.isnan(nothing_to_find.cpm())


def test_average_precision_envelope_read_at_101_recall_levels():
    # Pooled in score order: TP, FP, TP of 2 lesions: recall 0.5, 0.5, 1; precision 1, 1/2,
    # 2/3; envelope 1, 2/3, 2/3. Recall levels 0..0.50 (51 of them) read 1, 0.51..1 (50)
    # read 2/3: AP = (51 + 50 * 2/3) / 101.
    scan = ScanDetections.of("A", [L1, L2], [L1, cube(60, 4), L2], [0.9, 0.8, 0.7])
    matches = greedy_matches(scan, (0.5,))
    ap = average_precision(matches.scores, matches.matched[0.5], matches.lesion_count)
    assert ap == pytest.approx((51 + 50 * 2 / 3) / 101)


def test_ap_counts_a_duplicate_as_a_false_positive_unlike_froc():
    # Both detections overlap L1 fully; the second finds nothing left: TP then FP, recall 1
    # from the first: AP 1 (the envelope keeps precision 1 up to recall 1).
    scan = ScanDetections.of("A", [L1], [L1, L1], [0.9, 0.8])
    matches = greedy_matches(scan, (0.1,))
    assert matches.matched[0.1].tolist() == [True, False]
    # Reversed scores, the FP first: precision at recall 1 is 1/2.
    late = ScanDetections.of("A", [L1], [cube(60, 4), L1], [0.9, 0.8])
    m = greedy_matches(late, (0.1,))
    assert average_precision(m.scores, m.matched[0.1], 1) == pytest.approx(0.5)


def test_iou_of_two_half_overlapping_cubes_is_one_third():
    a = np.array([[0, 0, 0, 2, 2, 2]], float)
    b = np.array([[1, 0, 0, 3, 2, 2]], float)
    assert box_iou(a, b)[0, 0] == pytest.approx(1 / 3)


def test_centre_in_box_and_iou_rules_disagree_on_a_small_box_inside_a_large_lesion():
    # A 2 mm box at the centre of a 10 mm lesion: centre inside, IoU 8/1000.
    lesion, small = np.array([L1]), np.array([cube(5, 2)])
    assert HitRule.parse("centre-in-box").hits(small, lesion)[0, 0]
    assert not HitRule.parse("iou>=0.1").hits(small, lesion)[0, 0]
    assert HitRule.parse("iou >= 0.008").hits(small, lesion)[0, 0]


@pytest.mark.parametrize("text", ["iou>=0", "iou>=1.5", "overlap", "iou>0.1"])
def test_unknown_hit_rules_are_refused_with_the_choices(text):
    with pytest.raises(ValueError, match="centre-in-box"):
        HitRule.parse(text)


def test_size_bins_count_every_false_positive_and_only_their_own_lesions():
    # Lesion diameters 8 mm (found at 0.9) and 25 mm (missed); one FP at 0.5 on one scan.
    scan = ScanDetections.of(
        "A",
        [cube(10, 8), cube(50, 25)],
        [cube(10, 2), cube(90, 2)],
        [0.9, 0.5],
        lesion_diameters_mm=[8.0, 25.0],
    )
    figures = detection_figures([scan], DetectionSettings(resamples=10))
    by_name = {b.name: b for b in figures.size_bins}
    assert by_name["6-10 mm"].lesions == 1 and by_name["6-10 mm"].cpm.value == 1.0
    assert by_name[">=20 mm"].lesions == 1 and by_name[">=20 mm"].cpm.value == 0.0
    assert math.isnan(by_name["<6 mm"].cpm.value) and by_name["<6 mm"].lesions == 0
    assert figures.cpm.value == 0.5


def test_bootstrap_ci_brackets_the_value_and_is_reproducible():
    rng = np.random.default_rng(3)
    scans = []
    for k in range(12):
        centre = rng.uniform(10, 90, 3)
        hit = k % 3 != 0
        detections = [cube(centre if hit else centre + 40, 4), cube(rng.uniform(10, 90, 3), 4)]
        scans.append(ScanDetections.of(f"S{k}", [cube(centre, 10)], detections, rng.random(2)))
    settings = DetectionSettings(resamples=200, seed=7)
    first, again = detection_figures(scans, settings), detection_figures(scans, settings)
    assert first.cpm == again.cpm
    assert first.cpm.ci95_low <= first.cpm.value <= first.cpm.ci95_high
    assert first.cpm.ci95_low < first.cpm.ci95_high
    for estimate in first.average_precision.values():
        assert estimate.ci95_low <= estimate.value <= estimate.ci95_high


def test_identical_scans_give_a_ci_of_width_zero():
    scan = _two_scans()[0]
    figures = detection_figures([scan] * 5, DetectionSettings(resamples=50))
    assert figures.cpm.ci95_low == figures.cpm.value == figures.cpm.ci95_high


def test_json_form_names_the_rule_and_writes_nan_as_null():
    figures = detection_figures(_two_scans(), DetectionSettings(resamples=10))
    data = figures.as_dict()
    assert data["hit_rule"] == "centre-in-box"
    assert "centre lies inside" in str(data["hit_rule_text"])
    bins = data["size_bins"]
    assert isinstance(bins, list) and bins[0]["cpm"]["value"] is None  # no lesion under 6 mm
    assert data["froc"]["thresholds"][0] == "inf"  # type: ignore[index]


def test_mismatched_scores_and_bad_boxes_are_refused_with_the_scan_named():
    with pytest.raises(ValueError, match="S9: 1 detection boxes but 2 scores"):
        ScanDetections.of("S9", [], [L1], [0.1, 0.2])
    with pytest.raises(ValueError, match="high face below the low face"):
        ScanDetections.of("S9", [[5, 5, 5, 1, 1, 1]], [], [])
