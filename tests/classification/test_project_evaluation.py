"""A classifier evaluated over a project: the figures against scikit-learn on fixed numbers,
the empty and one-class cases said in words, the report as a reader sees it, and the whole
mode against a sandbox project whose sessions carry their class as a field and a
classification assessor as `classify infer` writes it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from containers.classify.infer import MODEL_FIELD, PREDICTED_FIELD, PROBABILITY_PREFIX, QC_TYPE
from containers.classify.project import (
    Prediction,
    build_summary,
    positive_class,
    run_evaluate_project,
    write_outputs,
)
from containers.common.class_labels import LabelSource
from xnat_plugin.assessors.qc_assessment import QcAssessment, ScanStatistics
from xnat_plugin.client import connect
from xnat_plugin.client.assessor_store import create_assessor
from xnat_plugin.client.objects import create_session, ensure_project, ensure_subject
from xnat_plugin.errors import UserError

TRUTH = ["lesion"] * 12 + ["no_lesion"] * 12
SITES = ["north", "south"] * 12
# Scores that separate the classes imperfectly: lesions 0.30-0.90, the others 0.10-0.62.
SCORES = np.r_[np.linspace(0.3, 0.9, 12), np.linspace(0.1, 0.62, 12)]


def _predictions(scores=SCORES) -> list[Prediction]:
    return [
        Prediction(
            session=f"S{k:02d}", site=SITES[k], truth=TRUTH[k],
            probabilities={"lesion": float(p), "no_lesion": float(1 - p)},
            predicted="lesion" if p >= 0.5 else "no_lesion", assessor=f"S{k:02d}_monai_m_1",
        )
        for k, p in enumerate(scores)
    ]  # fmt: skip


def test_the_figures_are_scikit_learns_on_the_same_numbers():
    summary = build_summary("P", "r", {"m": _predictions()}, [], positive=None, threshold=0.5)
    assert summary["positive"] == "lesion"  # the other class reads as "nothing found"
    figures = summary["models"]["m"]
    y = [int(t == "lesion") for t in TRUTH]
    assert figures["auc_delong"]["value"] == pytest.approx(roc_auc_score(y, SCORES))
    assert figures["auc_bootstrap"]["low"] <= figures["auc_delong"]["value"]
    assert figures["calibration"]["brier_score"] == pytest.approx(brier_score_loss(y, SCORES))
    at = figures["at_threshold"]
    called = SCORES >= 0.5
    assert at["true_positive"] == int((called & (np.array(y) == 1)).sum())
    matrix = figures["confusion_matrix"]["rows_true_columns_predicted"]
    assert sum(map(sum, matrix)) == 24 and matrix[0][0] == at["true_positive"]
    for site in ("north", "south"):
        inside = [k for k in range(24) if SITES[k] == site]
        expected = roc_auc_score([y[k] for k in inside], SCORES[inside])
        assert figures["sites"][site]["auc_delong"]["value"] == pytest.approx(expected)
    assert figures["site_test"]["sites"] == ["north", "south"]


def test_two_models_get_deLongs_paired_test():
    better = np.where(np.array(TRUTH) == "lesion", 0.9, 0.1)
    summary = build_summary(
        "P", "r", {"a": _predictions(), "b": _predictions(better)}, [], positive="lesion",
        threshold=0.5,
    )  # fmt: skip
    paired = summary["paired"]
    assert paired["models"] == ["a", "b"] and paired["sessions"] == 24
    assert paired["auc_b"] == 1.0 and paired["difference"] < 0 and 0 <= paired["p_value"] <= 1


def test_one_class_only_is_said_in_words_and_an_unknown_positive_refused():
    one_class = [p for p in _predictions() if p.truth == "lesion"]
    summary = build_summary("P", "r", {"m": one_class}, [], positive="lesion", threshold=0.5)
    assert summary["models"]["m"]["auc_delong"] == {
        "undefined": "ROC AUC needs positive and negative cases, got 12 positive and 0 negative"
    }
    assert summary["models"]["m"]["calibration"]["brier_score"] >= 0  # defined on one class
    with pytest.raises(UserError, match="--positive 'tumour' is not one of the classes"):
        positive_class(["lesion", "no_lesion"], "tumour")
    with pytest.raises(UserError, match="say which is the positive one with --positive"):
        positive_class(["grade1", "grade2", "grade3"], None)


def test_the_report_shows_the_auc_and_fits_the_page(tmp_path: Path):
    from tests.rendering import measure_overflow, pdftoppm_or_skip

    rows = _predictions()
    summary = build_summary("P", "first", {"m": rows}, ["S99: no class"], positive=None,
                            threshold=0.5)  # fmt: skip
    write_outputs(tmp_path, summary, {"m": rows})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "reliability.png", "report.html", "report.pdf", "roc.png", "sessions.csv", "summary.json",
    ]  # fmt: skip
    auc = f"{summary['models']['m']['auc_delong']['value']:.3f}"
    page = (tmp_path / "report.html").read_text()
    assert "classification evaluation" in page and auc in page and "S99: no class" in page
    pdftoppm_or_skip()
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert auc in text.split("\f")[0]
    measured = measure_overflow(tmp_path / "report.html", width=1280)
    assert measured["overflowing"] == [], measured["overflowing"]
    assert len(measured["images"]) == 2 and all(w > 0 for _, w in measured["images"])


def test_the_project_mode_reads_assessors_and_session_fields(sandbox, tmp_path: Path):
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        ensure_project(client, "CLS")
        for k, p in enumerate(SCORES[:10]):
            subject = f"PAT{k:02d}"
            ensure_subject(client, "CLS", subject)
            session_id = create_session(
                client, "CLS", subject, f"{subject}_CT", acquisition_site=SITES[k],
                fields={"diagnosis": "lesion" if k % 2 == 0 else "no_lesion"},
            )  # fmt: skip
            for stamp, score in (("20260101120000", 0.5), ("20260102120000", p)):  # newest wins
                document = QcAssessment(
                    label=f"{subject}_CT_monai_cls_{stamp}", project="CLS",
                    session_id=session_id, date=dt.date(2026, 1, 2), qc_type=QC_TYPE,
                    fields={MODEL_FIELD: "cls", PREDICTED_FIELD: "lesion"},
                    scans=[ScanStatistics(scan_id="2", statistics={
                        f"{PROBABILITY_PREFIX}lesion": float(score),
                        f"{PROBABILITY_PREFIX}no_lesion": float(1 - score)})],
                )  # fmt: skip
                create_assessor(client, session_id, document.to_xml())
        ensure_subject(client, "CLS", "UNLABELLED")
        create_session(client, "CLS", "UNLABELLED", "UNLABELLED_CT")
        folder = run_evaluate_project(
            "CLS", tmp_path / "out", LabelSource(field="diagnosis"), run="first", resamples=50,
            client=client,
        )  # fmt: skip
    summary = json.loads((folder / "summary.json").read_text())
    y = [int(k % 2 == 0) for k in range(10)]
    assert summary["models"]["cls"]["sessions"] == 10
    assert summary["models"]["cls"]["auc_delong"]["value"] == pytest.approx(
        roc_auc_score(y, SCORES[:10])
    )
    assert any(entry.startswith("UNLABELLED_CT") for entry in summary["left_out"])
    assert (folder / "report.pdf").stat().st_size > 1000


def test_the_entry_point_refuses_bad_input_in_one_line(tmp_path: Path, capsys, monkeypatch):
    from containers.classify.__main__ import main

    out = tmp_path / "out"
    for extra, message in (
        ([], "give the classes with exactly one of --label-field"),
        (["--label-field", "diagnosis", "--run", ".."], "--run '..' may contain only"),
        (["--label-field", "diagnosis", "--threshold", "2"], "--threshold 2.0 must be a"),
    ):
        code = main(["evaluate-project", "--project", "P", "--output", str(out), *extra])
        assert code == 2
        assert message in capsys.readouterr().err
        assert not out.exists() or not any(out.iterdir())
