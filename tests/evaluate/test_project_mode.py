"""Project mode over a sandbox project whose sessions were evaluated by session mode."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from containers.evaluate.project_mode import ProjectRequest, run_project
from containers.evaluate.session_mode import SessionRequest, run_session
from tests.evaluate.sandbox_project import seed_session
from tests.evaluate.seg_pairs import LABELS
from xnat_plugin.assessors.qc_assessment import QcAssessment
from xnat_plugin.client import connect
from xnat_plugin.client.assessor_store import create_assessor
from xnat_plugin.errors import UserError

PROJECT = "LIVER"
MODELS = ("alpha", "beta")


@pytest.fixture(scope="module")
def evaluated_project(tmp_path_factory):
    """Four sessions on two sites, each with two models' SEGs evaluated and stored."""
    from xnat_plugin.sandbox.server import running_sandbox

    root = tmp_path_factory.mktemp("project")
    with (
        running_sandbox(root / "xnat") as server,
        connect(server.url, server.user, server.password) as client,
    ):
        sessions = [
            seed_session(client, PROJECT, i, root / "seed", models=MODELS) for i in range(4)
        ]
        stored: list[QcAssessment] = []
        for model in MODELS:
            for session in sessions:
                out = root / "eval" / model / session.label
                run_session(
                    SessionRequest(session.id, PROJECT, out, ai_pattern=f".*_monai_{model}_.*"),
                    client=client,
                )
                xml = (out / "assessor.xml").read_text()
                create_assessor(client, session.id, xml)
                stored.append(QcAssessment.from_xml(xml))
        yield client, root, sessions, stored


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
    assert set(summary["sites"]["alpha"]) == {"north", "south"}
    assert summary["sites"]["alpha"]["north"]["liver"]["dice"]["n"] == 2
    liver = summary["bland_altman"]["alpha"]["liver"]
    assert liver["n"] == 4
    assert liver["bias_ml"] == pytest.approx(np.mean(liver["differences_ml"]))
    test = summary["paired_tests"]["alpha vs beta"]["liver"]["dice"]
    assert test["n"] == 4 and (test["p_value"] is None or 0 <= test["p_value"] <= 1)
    assert summary["provenance"]["step"] == "evaluate-project"
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
    page = (folder / "report.html").read_text()
    assert "site north" in page and "box_dice.png" in page and "Wilcoxon" in page
    assert (folder / "box_dice.png").is_file() and (folder / "bland_altman_beta.png").is_file()
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
