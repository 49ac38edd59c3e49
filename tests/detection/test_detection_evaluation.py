"""Detection evaluation on fixed inputs with known answers: per session (found, missed, false
positives at the operating threshold under the hit rule) and per project (FROC, CPM, AP, size
bins, per group, the FROC picture), from the `detection.json` each session leaves."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from containers.common.findings import findings_of_boxes
from containers.common.lesions import Lesion
from containers.common.metrics.boxes import HitRule
from containers.detection.project_figures import (
    ALL_SESSIONS,
    project_figures,
    write_project_outputs,
)
from containers.detection.session_result import (
    SessionResult,
    read_result,
    write_result,
)
from xnat_plugin.errors import UserError

CENTRE = HitRule("centre-in-box")


def _lesion(lo: float, size: float, diameter: float | None = None) -> Lesion:
    box = (lo, lo, lo, lo + size, lo + size, lo + size)
    d = size if diameter is None else diameter
    return Lesion("nodule", box, (0.0, 0.0, 0.0), (size,) * 3, d, math.pi / 6 * d**3)


def _cube(lo: float, size: float) -> list[float]:
    return [lo, lo, lo, lo + size, lo + size, lo + size]


def _result(scan, lesions, boxes, scores, *, group="", rule=CENTRE, threshold=0.5):
    return SessionResult(
        scan=scan,
        group=group,
        series_instance_uid="1.2.3",
        lesions=tuple(lesions),
        findings=findings_of_boxes("1.2.3", boxes, scores),
        hit_rule=rule,
        threshold=threshold,
    )


def test_session_figures_at_the_threshold_known_answer():
    lesions = [_lesion(0, 10), _lesion(50, 6)]
    boxes = [
        _cube(2, 6),  # hits lesion 1 (centre 5 inside [0, 10])
        _cube(1, 7),  # hits lesion 1 again: neither found twice nor a false positive
        _cube(100, 4),  # hits nothing, reported: a false positive
        _cube(200, 8),  # hits nothing, below the threshold: not reported
    ]
    result = _result("s1", lesions, boxes, [0.9, 0.6, 0.7, 0.3])
    figures = result.figures()
    assert figures == {
        "reference_lesions": 2,
        "findings": 4,
        "reported_findings": 3,
        "true_positive": 1,
        "false_positive": 1,
        "false_negative": 1,
        "sensitivity": 0.5,
        "largest_lesion_mm": 10.0,
        "largest_finding_mm": 7.0,
    }
    assert result.lesion_scores().tolist() == [0.9, -math.inf]
    # A stricter hit rule: the first finding's IoU with lesion 1 is 216/1000 < 0.5.
    strict = _result("s1", lesions, boxes, [0.9, 0.6, 0.7, 0.3], rule=HitRule("iou", 0.5))
    assert strict.figures()["true_positive"] == 0
    assert strict.figures()["false_positive"] == 3


def test_a_session_without_lesions_has_no_sensitivity():
    result = _result("s0", [], [_cube(0, 5)], [0.8])
    figures = result.figures()
    assert math.isnan(figures["sensitivity"])
    assert (figures["false_positive"], figures["false_negative"]) == (1, 0)
    assert result.as_dict()["figures"]["sensitivity"] is None


def test_the_result_file_round_trips_and_is_checked(tmp_path: Path):
    result = _result("s1", [_lesion(0, 10)], [_cube(2, 6), _cube(40, 2)], [0.9, 0.2], group="A")
    write_result(tmp_path / "detection.json", result)
    back = read_result(tmp_path / "detection.json")
    assert back.figures() == result.figures()
    assert (back.scan, back.group, back.hit_rule, back.threshold) == ("s1", "A", CENTRE, 0.5)
    document = json.loads((tmp_path / "detection.json").read_text())
    assert document["lesions"][0]["found"] is True
    assert document["lesions"][0]["best_score"] == 0.9
    document["lesions"][0]["box_mm"] = [1, 2, 3]
    (tmp_path / "bad.json").write_text(json.dumps(document))
    with pytest.raises(UserError, match="not a complete detection result"):
        read_result(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "x"}))
    with pytest.raises(UserError, match="is not a detection result"):
        read_result(tmp_path / "other.json")


def _two_sites() -> list[SessionResult]:
    # Site A: lesion found at 0.9, one false positive scoring 0.95 above it.
    # Site B: one lesion, missed.
    return [
        _result("a1", [_lesion(0, 10)], [_cube(2, 6), _cube(100, 5)], [0.9, 0.95], group="A"),
        _result("b1", [_lesion(0, 25)], [], [], group="B"),
    ]


def test_project_figures_known_answer():
    """Pooled FROC: (0, 0) → (0.5 FP/scan, 0) at 0.95 → (0.5, 0.5) at 0.9. Sensitivity is 0 at
    1/8 and 1/4 FP per scan and 0.5 from 1/2 on: CPM = 5 × 0.5 / 7."""
    figures = project_figures(_two_sites(), resamples=50)
    overall = figures[ALL_SESSIONS]
    assert overall.scans == 2 and overall.lesions == 2 and overall.detections == 2
    assert overall.cpm.value == pytest.approx(2.5 / 7)
    assert [overall.sensitivity[r].value for r in (0.125, 0.25, 0.5, 8.0)] == [0, 0, 0.5, 0.5]
    # AP at IoU 0.1: the top-scoring finding is a false positive, the next finds one of two
    # lesions: precision 1/2 at recall 1/2, read at 51 of 101 recall levels.
    assert overall.average_precision[0.1].value == pytest.approx(0.5 * 51 / 101)
    bins = {b.name: b for b in overall.size_bins}
    assert bins["6-10 mm"].lesions == 0 and bins["10-20 mm"].lesions == 1
    assert bins[">=20 mm"].lesions == 1 and bins[">=20 mm"].cpm.value == 0.0
    assert bins["10-20 mm"].cpm.value == pytest.approx(5 / 7)
    assert set(figures) == {ALL_SESSIONS, "A", "B"}
    assert figures["A"].cpm.value == pytest.approx(4 / 7)  # 1 FP/scan: 0 up to 1/2, then 1
    assert figures["B"].cpm.value == 0.0


def test_one_site_gives_no_separate_group_and_mixed_rules_are_refused():
    one = [_result("a1", [_lesion(0, 10)], [_cube(2, 6)], [0.9], group="A")]
    assert set(project_figures(one, resamples=10)) == {ALL_SESSIONS}
    assert project_figures(one, resamples=10)[ALL_SESSIONS].cpm.value == 1.0
    mixed = [*one, _result("a2", [], [], [], rule=HitRule("iou", 0.1))]
    with pytest.raises(UserError, match="different hit rules"):
        project_figures(mixed)
    with pytest.raises(UserError, match="more than one result"):
        project_figures([*one, *one])
    with pytest.raises(UserError, match="no session detection results"):
        project_figures([])


def test_project_outputs_summary_sessions_and_froc_picture(tmp_path: Path):
    results = _two_sites()
    figures = project_figures(results, resamples=50)
    write_project_outputs(tmp_path, {"nodules": results}, {"nodules": figures}, "DET")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["sessions"] == 2 and summary["hit_rule"] == "centre-in-box"
    model = summary["models"]["nodules"]
    assert model[ALL_SESSIONS]["cpm"]["value"] == pytest.approx(2.5 / 7)
    assert model["B"]["froc"]["sensitivity"][-1] == 0.0
    rows = (tmp_path / "sessions.csv").read_text().splitlines()
    assert rows[0].startswith("model,session,group,reference_lesions,findings")
    assert rows[1].startswith("nodules,a1,A,1,2,2,1,1,0,1.0")
    assert rows[2].startswith("nodules,b1,B,1,0,0,0,0,1,0.0")
    picture = imread(tmp_path / "froc.png")
    assert picture.shape[:2] == (432, 672)  # 5.6 × 3.6 inches at 120 dpi
    assert np.unique(picture.reshape(-1, picture.shape[2]), axis=0).shape[0] > 10


def test_the_project_report_states_the_rule_and_shows_the_summary_figures(tmp_path: Path):
    """The report drawn by the segmentation report's machinery (HTML and an A4 PDF) shows the
    figures of summary.json, the hit rule stated in words, and fits a 1280 px window."""
    import subprocess

    from containers.detection.report import estimate
    from tests.rendering import measure_overflow, pdftoppm_or_skip

    run = tmp_path / "first"
    run.mkdir()
    results = _two_sites()
    write_project_outputs(run, {"nodules": results}, {"nodules": project_figures(results, resamples=50)}, "DET")  # fmt: skip
    summary = json.loads((run / "summary.json").read_text())
    cpm = estimate(summary["models"]["nodules"][ALL_SESSIONS]["cpm"])
    assert cpm.startswith("0.357 (")  # 2.5 / 7
    page = (run / "report.html").read_text()
    assert "Project DET: detection evaluation" in page and "Run first" in page
    assert cpm in page
    assert "box centre lies inside the lesion&#x27;s reference box" in page
    pdftoppm_or_skip()  # pdftotext comes with it (poppler-utils)
    text = subprocess.run(
        ["pdftotext", "-layout", str(run / "report.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    first = text.split("\f")[0]
    assert "detection evaluation" in first and "CPM" in first and "AP (IoU 0.5)" in first
    measured = measure_overflow(run / "report.html", width=1280)
    assert measured["overflowing"] == [], measured["overflowing"]
    assert measured["images"] and all(width > 0 for _, width in measured["images"])


def test_the_session_assessor_holds_every_figure_and_validates(reference_dir: Path):
    """As sent, ID included: XNAT's XMLValidator (DefaultCatalogService.insertXmlObject)."""
    import datetime as dt

    from containers.detection.session_assessor import build_detection_assessor
    from xnat_plugin.assessors.qc_assessment import QcAssessment
    from xnat_plugin.assessors.xsd import load_reference_schemas, validate

    result = _result("s1", [_lesion(0, 10), _lesion(50, 6)], [_cube(2, 6)], [0.9])
    assessor = build_detection_assessor(
        project="DET",
        session_id="XNAT_E00001",
        session_label="chest_01",
        scan_id="2",
        result=result,
        ai_assessor="chest_01_monai_nodules_20261203120000",
        reference_assessor="chest_01_manual",
        model_name="nodules",
        when=dt.datetime(2026, 12, 3, 12, 30, 5),
    )
    xml = assessor.to_xml()
    assert validate(xml, load_reference_schemas(reference_dir)) == []
    back = QcAssessment.from_xml(xml)
    assert back.label == "chest_01_monai_detect_eval_20261203123005"
    assert back.qc_type == "monai_detection_evaluation"
    assert back.fields["hit_rule"] == "centre-in-box" and back.fields["threshold"] == "0.5"
    statistics = back.scans[0].statistics
    assert statistics["detection_true_positive"] == 1.0
    assert statistics["detection_false_negative"] == 1.0
    assert statistics["detection_sensitivity"] == 0.5
    assert statistics["detection_largest_lesion_mm"] == 10.0
    assert len(statistics) == 9
