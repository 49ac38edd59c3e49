"""The classification study end to end: `xnat-monai demo --task classification --quick` on the
sandbox (seed, train through the Container Service, bulk-launch inference, the project report
on the held-out sessions, automation on an imported session), then checked through REST the way
a user would: every container Complete, one classification per session whose probabilities sum
to 1 with its explanation picture, and a report whose AUC is scikit-learn's on its own numbers."""

from __future__ import annotations

import csv
import json
import math

import pytest
from sklearn.metrics import roc_auc_score

from containers.classify.infer import PROBABILITY_PREFIX, QC_TYPE
from xnat_plugin.assessors.qc_assessment import QC_ASSESSMENT_XSI_TYPE, QcAssessment
from xnat_plugin.client import connect, paths
from xnat_plugin.client.assessor_store import read_assessor_xml
from xnat_plugin.client.browse import list_assessors, list_files, list_sessions
from xnat_plugin.demo.classification import run_classification_demo
from xnat_plugin.demo.settings import CLASSIFY_PROJECT, DemoSettings
from xnat_plugin.sandbox.server import running_sandbox

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

SESSIONS = 12  # 9 to train on (5 with a lesion), 3 held out (1 with a lesion)


def test_the_classification_study_runs_from_seeding_to_its_report(tmp_path):
    settings = DemoSettings(workdir=tmp_path / "demo", sessions=SESSIONS, quick=True)
    result = run_classification_demo(settings)
    jobs = result.containers + result.automation_containers
    # train, one infer per session, the report; then the imported session's infer
    assert len(result.containers) == 1 + SESSIONS + 1 and len(result.automation_containers) == 1
    assert {job.status for job in jobs} == {"Complete"}

    with (
        running_sandbox(settings.xnat_dir) as sandbox,
        connect(sandbox.url, sandbox.user, sandbox.password) as client,
    ):
        sessions = list_sessions(client, CLASSIFY_PROJECT)
        assert len(sessions) == SESSIONS + 1
        for session in sessions:
            found = []
            for info in list_assessors(client, session.id):
                if info.xsi_type != QC_ASSESSMENT_XSI_TYPE:  # the seeded manual SEGs
                    continue
                document = QcAssessment.from_xml(read_assessor_xml(client, session.id, info.id))
                if document.qc_type == QC_TYPE:
                    found.append((info, document))
            assert len(found) == 1, session.label
            info, document = found[0]
            probabilities = {
                k: v for k, v in document.scans[0].statistics.items()
                if k.startswith(PROBABILITY_PREFIX)
            }  # fmt: skip
            assert len(probabilities) == 2 and math.isclose(sum(probabilities.values()), 1.0,
                                                            abs_tol=1e-4)  # fmt: skip
            report = {f.path for f in list_files(client, paths.assessor(session.id, info.id),
                                                 "REPORT")}  # fmt: skip
            assert "explanation.png" in report, (session.label, report)

    summary = json.loads((result.report_dir / "summary.json").read_text())
    rows = list(csv.DictReader((result.report_dir / "sessions.csv").open()))
    assert len(rows) == settings.held_out
    positive = summary["positive"]
    y = [int(r["true_class"] == positive) for r in rows]
    scores = [float(r[f"{PROBABILITY_PREFIX}{positive}"]) for r in rows]
    (figures,) = summary["models"].values()
    assert figures["auc_delong"]["value"] == pytest.approx(roc_auc_score(y, scores))
    assert (result.report_dir / "report.pdf").stat().st_size > 1000
