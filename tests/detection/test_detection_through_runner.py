"""The detection evaluation as XNAT launches it: the evaluate image's wrappers, registered from
`command_json/`, run through `xnat-monai run` (process backend) on a session and then on its
project. The session's assessor comes back through the wrapper's output handlers
(`ContainerFinalizeServiceImpl`: the assessor, then REPORT as its child resource) and the
project report lands in MONAI_EVALUATION/<run>/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.detection.test_detection_session_mode import PROJECT, _seed
from xnat_plugin.assessors.qc_assessment import QcAssessment
from xnat_plugin.client import connect, paths
from xnat_plugin.client.assessor_store import read_assessor_xml
from xnat_plugin.client.browse import list_assessors, list_files
from xnat_plugin.runner.xnat_rest import XnatRest

REPO = Path(__file__).resolve().parents[2]


def _run(sandbox: Any, wrapper: str, target: str, workdir: Path, capsys, *inputs: str) -> dict:
    from xnat_plugin.cli import main

    extra = [word for value in inputs for word in ("--input", value)]
    code = main(
        ["run", "--xnat", sandbox.url, "--user", sandbox.user, "--password", sandbox.password,
         "--wrapper", wrapper, "--target", target, "--workdir", str(workdir), *extra]
    )  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    log = Path(summary["workdir"]) / "logs" / "stderr.log"
    assert code == 0, log.read_text()[-3000:] if log.exists() else summary
    assert summary["status"] == "Complete"
    return summary


@pytest.mark.slow
def test_detection_wrappers_evaluate_a_session_then_report_on_the_project(
    sandbox: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        session_id, *_rest = _seed(client, tmp_path / "seed")
    rest = XnatRest(sandbox.url, sandbox.user, sandbox.password)
    for command in json.loads((REPO / "command_json" / "xnat-monai-evaluate-cpu.json").read_text()):
        rest.post(
            "/xapi/commands", body=json.dumps(command), headers={"Content-Type": "application/json"}
        )

    _run(sandbox, "monai-detect-evaluate-session-cpu", f"/experiments/{session_id}",
         tmp_path / "session-run", capsys)  # fmt: skip
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        (evaluation,) = [
            a for a in list_assessors(client, session_id) if "_monai_detect_eval_" in a.label
        ]
        assessor = QcAssessment.from_xml(read_assessor_xml(client, session_id, evaluation.id))
        report = {f.path for f in list_files(client, paths.assessor(session_id, evaluation.id),
                                             "REPORT")}  # fmt: skip
    statistics = assessor.scans[0].statistics
    assert (statistics["detection_true_positive"], statistics["detection_false_positive"]) == (1, 1)
    assert assessor.fields["hit_rule"] == "centre-in-box"
    assert report == {"detection.json", "detection.png"}

    _run(sandbox, "monai-detect-evaluate-project-cpu", f"/projects/{PROJECT}",
         tmp_path / "project-run", capsys, "run=first", "resamples=20")  # fmt: skip
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        stored = {f.path for f in list_files(client, paths.project(PROJECT), "MONAI_EVALUATION")}
    assert {"first/summary.json", "first/sessions.csv", "first/froc.png",
            "first/provenance.json", "first/report.html", "first/report.pdf"} <= stored  # fmt: skip
