"""The main job end to end: `xnat-monai demo --quick`, then everything it left in the sandbox is
checked the way a user would check it (through REST, highdicom and XNAT's own XSDs)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from containers.common.dicom_series import read_series
from containers.common.seg_reader import find_seg_file, read_seg
from xnat_plugin.assessors.qc_assessment import QcAssessment
from xnat_plugin.assessors.xsd import load_reference_schemas, validate
from xnat_plugin.client import connect
from xnat_plugin.client.assessor_store import read_assessor_xml
from xnat_plugin.client.browse import list_assessors, list_scans, list_sessions
from xnat_plugin.demo.flow import DemoResult, run_demo
from xnat_plugin.demo.settings import PROJECT, DemoSettings
from xnat_plugin.sandbox.archive import archive_directory
from xnat_plugin.sandbox.seed.clinical_series import AXIAL_SERIES_NUMBER
from xnat_plugin.sandbox.server import running_sandbox

# The quick demo trains a model inside the first test's fixture: about 4 min on an idle 2-core
# machine, up to half an hour when the machine is busy; the suite's 900 s would cut it short.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

SESSIONS = 4
# Well below what the quick demo reaches on sessions it never saw (liver/spleen/kidney ~0.9), far
# above what a flipped axis or a shifted grid gives (Dice near 0).
UNSEEN_DICE_FLOOR = 0.6


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    workdir = tmp_path_factory.mktemp("demo")
    return run_demo(DemoSettings(workdir=workdir, sessions=SESSIONS, quick=True))


def test_every_container_of_the_demo_completes(demo: DemoResult) -> None:
    statuses = [c.status for c in demo.containers]
    # train, one infer and one evaluation per session, the project evaluation
    assert len(statuses) == 1 + 2 * SESSIONS + 1
    assert set(statuses) == {"Complete"}


def test_automation_segments_and_evaluates_a_new_session_without_a_launch(
    demo: DemoResult,
) -> None:
    # the new session is segmented (session-created), then evaluated (ai-segmentation-created)
    assert len(demo.automation_containers) == 2, demo.automation_containers
    assert {c.status for c in demo.automation_containers} == {"Complete"}


def test_each_session_has_one_ai_segmentation_that_reads_back_onto_its_series(
    demo: DemoResult,
) -> None:
    with running_sandbox(demo.data_dir) as sandbox, connect(sandbox.url, "admin", "admin") as c:
        sessions = list_sessions(c, PROJECT)
        assert len(sessions) >= SESSIONS
        for session in sessions:
            ai = [
                a
                for a in list_assessors(c, session.id)
                if a.xsi_type == "icr:roiCollectionData" and "_monai_" in a.label
            ]
            assert len(ai) == 1, (session.label, [a.label for a in ai])
            axial = f"{session.uri}/scans/{AXIAL_SERIES_NUMBER}"
            series = read_series(archive_directory(demo.data_dir, axial))
            seg_dir = archive_directory(demo.data_dir, f"{ai[0].uri}/resources/SEG")
            label_map = read_seg(find_seg_file(seg_dir), series)
            assert label_map.array.shape == series.volume.shape
            assert label_map.algorithm_types == {"AUTOMATIC"}
            assert set(np.unique(label_map.array)) - {0}, "the AI segmentation is empty"


def test_the_scan_rule_picks_the_axial_series_of_sessions_with_reconstructions(
    demo: DemoResult,
) -> None:
    """Half the sessions hold a localizer and a thin and a thick reconstruction too; the
    project's scan rule makes infer (and train, and so the evaluation) take the axial series."""
    with running_sandbox(demo.data_dir) as sandbox, connect(sandbox.url, "admin", "admin") as c:
        scans = {s.id: [scan.id for scan in list_scans(c, s.id)] for s in list_sessions(c, PROJECT)}
    assert sorted(map(len, scans.values())).count(4) >= SESSIONS // 2
    for xml in _session_assessors(demo).values():
        (scan,) = QcAssessment.from_xml(xml).scans
        assert scan.scan_id == str(AXIAL_SERIES_NUMBER)


def _session_assessors(demo: DemoResult) -> dict[str, str]:
    """session ID → the XML of its qcAssessment assessor, as the sandbox serves it."""
    xmls: dict[str, str] = {}
    with running_sandbox(demo.data_dir) as sandbox, connect(sandbox.url, "admin", "admin") as c:
        for session in list_sessions(c, PROJECT):
            for a in list_assessors(c, session.id):
                if a.xsi_type == "xnat:qcAssessmentData":
                    xmls[session.id] = read_assessor_xml(c, session.id, a.id)
    return xmls


def _session_figures(demo: DemoResult) -> dict[str, dict[str, float]]:
    """label_metric → value, per evaluated session, read from the qcAssessment assessors."""
    figures: dict[str, dict[str, float]] = {}
    for session_id, xml in _session_assessors(demo).items():
        (scan,) = QcAssessment.from_xml(xml).scans
        figures[session_id] = scan.statistics
    return figures


def test_session_evaluations_validate_against_xnats_schemas(
    demo: DemoResult, reference_dir: Path
) -> None:
    schemas = load_reference_schemas(reference_dir)
    xmls = _session_assessors(demo)
    assert len(xmls) >= SESSIONS
    for session_id, xml in xmls.items():
        assert validate(xml, schemas) == [], session_id


def test_the_project_report_equals_the_mean_of_the_session_evaluations(
    demo: DemoResult,
) -> None:
    figures = _session_figures(demo)
    assert len(figures) >= SESSIONS
    assert demo.report_dir is not None
    assert (demo.report_dir / "report.pdf").stat().st_size > 0
    summary = json.loads((demo.report_dir / "summary.json").read_text())
    # The report covers the sessions evaluated before it ran (not the automation's new one).
    with (demo.report_dir / "metrics.csv").open() as handle:
        reported = {row["session_id"] for row in csv.DictReader(handle)}
    figures = {sid: f for sid, f in figures.items() if sid in reported}
    assert len(figures) == summary["n_sessions"] == SESSIONS
    (model,) = summary["models"]
    for label, metrics in summary["labels"][model].items():
        dice = [f[f"{label}_dice"] for f in figures.values() if f"{label}_dice" in f]
        dice = [d for d in dice if not math.isnan(d)]
        assert metrics["dice"]["n"] == len(dice)
        assert metrics["dice"]["mean"] == pytest.approx(float(np.mean(dice)), abs=1e-6)


def test_the_report_leads_with_the_unseen_sessions_and_they_clear_a_dice_floor(
    demo: DemoResult,
) -> None:
    assert demo.report_dir is not None
    summary = json.loads((demo.report_dir / "summary.json").read_text())
    (model,) = summary["models"]
    held_out = DemoSettings(workdir=demo.data_dir, sessions=SESSIONS).held_out
    assert summary["headline"][model] == "unseen"
    assert summary["roles"][model]["unseen"] == held_out
    unseen = [row for row in summary["sessions"] if row["role"] == "unseen"]
    # the held-out sessions are the last ones seeded, and only they are unseen
    assert sorted(row["session"] for row in unseen) == [
        f"SUBJ{i:03d}_CT1" for i in range(SESSIONS - held_out + 1, SESSIONS + 1)
    ]
    for label, metrics in summary["by_role"][model]["unseen"].items():
        assert metrics["dice"]["n"] == held_out
        assert metrics["dice"]["mean"] >= UNSEEN_DICE_FLOOR, (label, metrics["dice"])
    page = (demo.report_dir / "report.html").read_text()
    assert f"{held_out} unseen session" in page[page.index("<table") : page.index("</table>")]


def test_no_session_the_model_was_trained_on_is_counted_as_unseen(demo: DemoResult) -> None:
    assert demo.report_dir is not None
    bundle = Path(archive_directory(demo.data_dir, f"/projects/{PROJECT}/resources/MONAI_MODELS"))
    metadata = json.loads((bundle / "abdomen-ct" / "configs" / "metadata.json").read_text())
    trained_on = {row["session"] for row in metadata["xnat_monai"]["training"]["data"]}
    assert len(trained_on) == SESSIONS - DemoSettings(demo.data_dir, SESSIONS).held_out
    summary = json.loads((demo.report_dir / "summary.json").read_text())
    roles = {row["session"]: row["role"] for row in summary["sessions"]}
    assert {roles[s] for s in trained_on} <= {"training", "validation"}
    card = (bundle / "abdomen-ct" / "docs" / "README.md").read_text()
    assert "| training data | project DEMO: 3 sessions" in card


def test_every_steps_report_records_its_energy_and_the_project_report_sums_it(
    demo: DemoResult,
) -> None:
    assert demo.report_dir is not None
    reports = list(Path(demo.data_dir).glob("archive/*/arc001/*/ASSESSORS/*/REPORT/*.json"))
    assert len(reports) >= 2 * SESSIONS  # infer's report.json, evaluate's metrics.json
    for path in reports:
        energy = json.loads(path.read_text())["provenance"]["energy"]
        assert energy["source"] in ("rapl", "estimate", "rapl+nvml", "estimate+nvml"), path
        assert energy["joules"] > 0, path
    energy = json.loads((demo.report_dir / "summary.json").read_text())["energy"]
    assert set(energy["by_job"]) == {"train", "infer", "evaluate-session", "evaluate-project"}
    assert energy["by_job"]["infer"]["jobs"] == SESSIONS
    assert energy["jobs_without_a_record"] == {}
    assert energy["co2e_g"] > 0
