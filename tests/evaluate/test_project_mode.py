"""Project mode over a sandbox project whose sessions were evaluated by session mode."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from containers.common.data_split import TRAINING, UNKNOWN, UNSEEN, VALIDATION
from containers.evaluate.project_mode import ProjectRequest, run_project
from tests.evaluate.conftest import MODELS, PROJECT
from tests.evaluate.seg_pairs import LABELS
from xnat_plugin.errors import UserError


def test_project_summary_equals_the_mean_of_the_session_assessors(evaluated_project):
    client, root, _, stored = evaluated_project
    folder = run_project(
        ProjectRequest(PROJECT, root / "report-all", models=list(MODELS), run="run1"),
        client=client,
    )
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["n_sessions"] == 4 and summary["models"] == list(MODELS)
    for model in MODELS:
        figures = [a.scans[0].statistics for a in stored if a.fields["model_name"] == model]
        for label in LABELS:
            dice = [f[f"{label}_dice"] for f in figures if not f[f"{label}_reference_empty"]]
            reported = summary["labels"][model][label]["dice"]
            assert reported["mean"] == pytest.approx(np.mean(dice))
            assert reported["median"] == pytest.approx(np.median(dice))
            assert reported["n"] == len(dice)
            assert reported["ci95_low"] <= reported["mean"] <= reported["ci95_high"]
            hd = [f[f"{label}_hausdorff95_mm"] for f in figures]
            finite = [v for v in hd if math.isfinite(v)]
            assert summary["labels"][model][label]["hausdorff95_mm"]["n_infinite"] == len(hd) - len(
                finite
            )
            if finite:
                assert summary["labels"][model][label]["hausdorff95_mm"]["mean"] == pytest.approx(
                    np.mean(finite)
                )


def test_project_report_has_sites_bland_altman_paired_tests_and_both_documents(evaluated_project):
    client, root, _, _ = evaluated_project
    folder = run_project(
        ProjectRequest(PROJECT, root / "report-files", models=list(MODELS), run="run2"),
        client=client,
    )
    summary = json.loads((folder / "summary.json").read_text())
    # per site over the group the report leads with: alpha's one unseen session, beta's all
    assert set(summary["sites"]["alpha"]) == {"south"}
    assert set(summary["sites"]["beta"]) == {"north", "south"}
    assert summary["sites"]["beta"]["north"]["liver"]["dice"]["n"] == 2
    assert summary["site_tests"]["beta"]["liver"]["test"] == "Mann–Whitney U (two-sided)"
    liver = summary["bland_altman"]["alpha"]["liver"]
    assert liver["n"] == 4
    assert liver["bias_ml"] == pytest.approx(np.mean(liver["differences_ml"]))
    test = summary["paired_tests"]["alpha vs beta"]["liver"]["dice"]
    assert test["n"] == 4 and (test["p_value"] is None or 0 <= test["p_value"] <= 1)
    assert summary["provenance"]["step"] == "evaluate-project"
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
    page = (folder / "report.html").read_text()
    assert "north" in page and "box_dice.png" in page and "Wilcoxon" in page
    assert "Mann–Whitney U" in page  # the per-site test is named
    assert (folder / "box_dice.png").is_file() and (
        folder / "bland_altman_beta_liver.png"
    ).is_file()
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    assert len(rows) == 4 * len(MODELS) * len(LABELS)


def test_unknown_model_is_refused_naming_the_models_that_exist(evaluated_project):
    client, root, _, _ = evaluated_project
    with pytest.raises(UserError, match="alpha, beta"):
        run_project(ProjectRequest(PROJECT, root / "none", models=["gamma"]), client=client)
    assert not (root / "none").exists() or not any((root / "none").iterdir())


def test_three_models_are_refused(evaluated_project):
    client, root, _, _ = evaluated_project
    with pytest.raises(UserError, match="two"):
        run_project(ProjectRequest(PROJECT, root / "x", models=["a", "b", "c"]), client=client)


def test_sessions_are_marked_by_what_the_model_saw_and_unseen_ones_lead_the_report(
    evaluated_project,
):
    client, root, sessions, _ = evaluated_project
    folder = run_project(
        ProjectRequest(PROJECT, root / "report-roles", models=["alpha"], run="roles"),
        client=client,
    )
    summary = json.loads((folder / "summary.json").read_text())
    roles = {row["session"]: row["role"] for row in summary["sessions"]}
    assert roles == {
        sessions[0].label: TRAINING,
        sessions[1].label: TRAINING,
        sessions[2].label: VALIDATION,
        sessions[3].label: UNSEEN,
    }
    assert summary["headline"]["alpha"] == UNSEEN
    assert summary["by_role"]["alpha"][UNSEEN]["liver"]["dice"]["n"] == 1
    assert summary["model_records"]["alpha"]["version"] == "0.3.0"
    card = dict(summary["model_records"]["alpha"]["card"])
    assert card["training data"].startswith("project LIVER: 3 sessions (2 training, 1 validation)")
    page = (folder / "report.html").read_text()
    first_table = page.index("<table")
    assert "1 unseen session<" in page[first_table : first_table + 400]
    assert page.index("How good is alpha 0.3.0?") < first_table
    # The worst sessions' disagreement pictures are copied into the report.
    assert list((folder / "sessions").glob("*_disagreement.png"))


def test_without_a_training_record_no_session_is_called_unseen_and_the_report_says_so(
    evaluated_project,
):
    client, root, _, _ = evaluated_project
    folder = run_project(
        ProjectRequest(PROJECT, root / "report-beta", models=["beta"], run="beta"),
        client=client,
    )
    summary = json.loads((folder / "summary.json").read_text())
    assert {row["role"] for row in summary["sessions"]} == {UNKNOWN}
    assert summary["headline"]["beta"] == "all"
    assert "no session can be called unseen" in (folder / "report.html").read_text()


def test_the_report_sums_the_energy_of_every_job_with_its_co2e(evaluated_project):
    client, root, _, _ = evaluated_project
    folder = run_project(
        ProjectRequest(
            PROJECT, root / "report-energy", models=["alpha"], run="energy", grid_intensity=100.0
        ),
        client=client,
    )
    energy = json.loads((folder / "summary.json").read_text())["energy"]
    assert energy["by_job"]["train"] == {"jobs": 1, "kwh": pytest.approx(0.002), "estimated": True}
    # every session evaluation's metrics.json carried its own energy record
    assert energy["by_job"]["evaluate-session"]["jobs"] == 4
    assert energy["by_job"]["evaluate-project"]["jobs"] == 1
    assert energy["jobs_without_a_record"] == {"infer": 4}  # the fixture's SEGs had no infer run
    total = sum(v["kwh"] for v in energy["by_job"].values())
    assert energy["kwh"] == pytest.approx(total)
    assert energy["co2e_g"] == pytest.approx(total * 100.0)
    assert "g CO2e at 100 g CO2e/kWh" in (folder / "report.html").read_text()
