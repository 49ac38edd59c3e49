"""Every detection figure of a set of scans, each with a bootstrap 95 % CI over scans.

Figures: the FROC curve, sensitivity at the LUNA16 false-positive rates and their mean (CPM),
average precision at IoU 0.1 and 0.5 (`average_precision`), and per lesion-size bin the
sensitivity at the same rates and its CPM (false positives have no size: a bin's curve counts
every false positive and only that bin's lesions). The hit rule is part of the result.

CIs: percentile bootstrap over scans (scans drawn with replacement, `resamples` times, fixed
seed), the unit a study samples; NaN draws (e.g. no lesion of a bin drawn) are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from containers.common.metrics.average_precision import DEFAULT_AP_IOUS, average_precision
from containers.common.metrics.boxes import HitRule
from containers.common.metrics.detection_cases import (
    FrocScores,
    GreedyMatches,
    ScanDetections,
    froc_scores,
    greedy_matches,
)
from containers.common.metrics.froc import LUNA16_FP_RATES, FrocCurve, froc_curve

# Lesion diameter bins in mm (lower edge included): small, medium, large and very large.
DEFAULT_SIZE_BINS_MM: tuple[float, ...] = (0.0, 6.0, 10.0, 20.0, math.inf)


@dataclass(frozen=True)
class DetectionSettings:
    hit_rule: HitRule = field(default_factory=lambda: HitRule("centre-in-box"))
    fp_rates: tuple[float, ...] = LUNA16_FP_RATES
    ap_ious: tuple[float, ...] = DEFAULT_AP_IOUS
    size_bins_mm: tuple[float, ...] = DEFAULT_SIZE_BINS_MM
    resamples: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class Estimate:
    value: float
    ci95_low: float
    ci95_high: float

    def as_dict(self) -> dict[str, float | str | None]:
        return {k: _json_number(v) for k, v in vars(self).items()}


@dataclass(frozen=True)
class SizeBinFigures:
    low_mm: float
    high_mm: float
    lesions: int
    cpm: Estimate
    sensitivity: dict[float, Estimate]  # by FP rate

    @property
    def name(self) -> str:
        if self.low_mm == 0:
            return f"<{self.high_mm:g} mm"
        if math.isinf(self.high_mm):
            return f">={self.low_mm:g} mm"
        return f"{self.low_mm:g}-{self.high_mm:g} mm"


@dataclass(frozen=True)
class DetectionFigures:
    scans: int
    lesions: int
    detections: int
    hit_rule: HitRule
    cpm: Estimate
    sensitivity: dict[float, Estimate]  # by FP rate
    average_precision: dict[float, Estimate]  # by IoU threshold
    size_bins: list[SizeBinFigures]
    froc: FrocCurve

    def as_dict(self) -> dict[str, object]:
        """The JSON form (NaN as null), keys as the report and the assessor name them."""
        return {
            "scans": self.scans,
            "lesions": self.lesions,
            "detections": self.detections,
            "hit_rule": self.hit_rule.name,
            "hit_rule_text": self.hit_rule.describe(),
            "cpm": self.cpm.as_dict(),
            "sensitivity_at_fp_per_scan": {
                f"{r:g}": e.as_dict() for r, e in self.sensitivity.items()
            },
            "average_precision": {
                f"iou_{t:.2f}": e.as_dict() for t, e in self.average_precision.items()
            },
            "size_bins": [
                {
                    "name": b.name,
                    "low_mm": b.low_mm,
                    "high_mm": _json_number(b.high_mm),
                    "lesions": b.lesions,
                    "cpm": b.cpm.as_dict(),
                    "sensitivity_at_fp_per_scan": {
                        f"{r:g}": e.as_dict() for r, e in b.sensitivity.items()
                    },
                }
                for b in self.size_bins
            ],
            "froc": {
                "fps_per_scan": self.froc.fps_per_scan.tolist(),
                "sensitivity": [_json_number(v) for v in self.froc.sensitivity],
                "thresholds": [_json_number(v) for v in self.froc.thresholds],
            },
        }


@dataclass(frozen=True)
class _Prepared:
    froc: list[FrocScores]
    greedy: list[GreedyMatches]
    settings: DetectionSettings


def _point_figures(prepared: _Prepared, chosen: Sequence[int]) -> np.ndarray:
    """[CPM, sensitivity per rate, AP per IoU, per bin (CPM, sensitivity per rate)] of the
    scans `chosen` (with repeats, for the bootstrap)."""
    settings = prepared.settings
    froc_parts = [prepared.froc[i] for i in chosen]
    fp_scores = np.concatenate([p.false_positive_scores for p in froc_parts])
    lesion_scores = np.concatenate([p.lesion_scores for p in froc_parts])
    diameters = np.concatenate([p.lesion_diameters_mm for p in froc_parts])
    values: list[float] = []
    values += _curve_figures(froc_curve(fp_scores, lesion_scores, len(chosen)), settings.fp_rates)
    greedy_parts = [prepared.greedy[i] for i in chosen]
    scores = np.concatenate([g.scores for g in greedy_parts])
    lesions = sum(g.lesion_count for g in greedy_parts)
    for iou in settings.ap_ious:
        matched = np.concatenate([g.matched[iou] for g in greedy_parts])
        values.append(average_precision(scores, matched, lesions))
    edges = settings.size_bins_mm
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (diameters >= low) & (diameters < high)
        curve = froc_curve(fp_scores, lesion_scores[in_bin], len(chosen))
        values += _curve_figures(curve, settings.fp_rates)
    return np.asarray(values, dtype=np.float64)


def _curve_figures(curve: FrocCurve, rates: Sequence[float]) -> list[float]:
    sensitivities = [curve.sensitivity_at(r) for r in rates]
    return [float(np.mean(sensitivities)), *sensitivities]


def detection_figures(
    scans: Sequence[ScanDetections], settings: DetectionSettings | None = None
) -> DetectionFigures:
    """Every figure of `scans` (at least one) with its bootstrap CI."""
    settings = settings or DetectionSettings()
    if not scans:
        raise ValueError("detection figures need at least one scan")
    prepared = _Prepared(
        froc=[froc_scores(s, settings.hit_rule) for s in scans],
        greedy=[greedy_matches(s, settings.ap_ious) for s in scans],
        settings=settings,
    )
    everyone = list(range(len(scans)))
    point = _point_figures(prepared, everyone)
    rng = np.random.default_rng(settings.seed)
    draws = rng.integers(0, len(scans), size=(settings.resamples, len(scans)))
    resampled = np.array([_point_figures(prepared, draw) for draw in draws])
    estimates = [_estimate(point[k], resampled[:, k]) for k in range(len(point))]

    rates, ious = settings.fp_rates, settings.ap_ious
    cursor = iter(estimates)
    cpm = next(cursor)
    sensitivity = {r: next(cursor) for r in rates}
    ap = {t: next(cursor) for t in ious}
    diameters = np.concatenate([s.lesion_diameters_mm for s in scans])
    bins = []
    edges = settings.size_bins_mm
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        bin_cpm = next(cursor)
        bins.append(
            SizeBinFigures(
                low_mm=low,
                high_mm=high,
                lesions=int(np.count_nonzero((diameters >= low) & (diameters < high))),
                cpm=bin_cpm,
                sensitivity={r: next(cursor) for r in rates},
            )
        )
    pooled_fp = np.concatenate([p.false_positive_scores for p in prepared.froc])
    pooled_lesions = np.concatenate([p.lesion_scores for p in prepared.froc])
    return DetectionFigures(
        scans=len(scans),
        lesions=len(pooled_lesions),
        detections=int(sum(len(s.scores) for s in scans)),
        hit_rule=settings.hit_rule,
        cpm=cpm,
        sensitivity=sensitivity,
        average_precision=ap,
        size_bins=bins,
        froc=froc_curve(pooled_fp, pooled_lesions, len(scans)),
    )


def detection_figures_by_group(
    scans: Sequence[ScanDetections], settings: DetectionSettings | None = None
) -> dict[str, DetectionFigures]:
    """The figures of each group (e.g. site) on its own, groups in name order."""
    groups = sorted({s.group for s in scans})
    return {g: detection_figures([s for s in scans if s.group == g], settings) for g in groups}


def _estimate(value: float, draws: np.ndarray) -> Estimate:
    defined = draws[~np.isnan(draws)]
    if math.isnan(value) or len(defined) == 0:
        return Estimate(value, math.nan, math.nan)
    low, high = np.percentile(defined, [2.5, 97.5])
    return Estimate(float(value), float(low), float(high))


def _json_number(value: float) -> float | str | None:
    """NaN as null and +inf as "inf", as every metric JSON of this package writes them."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)
