"""The detection step's XNAT modes as the step runs them (`python -m containers.detection`):
XNAT from the environment unless given, every output in `output` at once or none, provenance
recorded (`containers/common/step.py`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from containers.common.metrics.detection_figures import DetectionFigures
from containers.common.step import StepRecord, report_run_name, required_xnat, staged_output
from containers.detection.project_mode import evaluate_project
from containers.detection.session_mode import DetectionSessionRequest, evaluate_session
from containers.detection.session_result import SessionResult
from xnat_plugin.client import XnatClient


def run_session(
    request: DetectionSessionRequest, output: Path, client: XnatClient | None = None
) -> SessionResult:
    """`assessor.xml` and `REPORT/` (detection.json with the provenance, detection.png)."""
    record = StepRecord("detection-evaluate-session")
    with (
        required_xnat(client, needed_by="evaluate-session") as xnat,
        staged_output(output) as staging,
    ):
        return evaluate_session(request, xnat, staging, record)


def run_project(
    project: str,
    output: Path,
    *,
    models: Sequence[str] = (),
    resamples: int = 1000,
    seed: int = 0,
    run: str | None = None,
    client: XnatClient | None = None,
) -> dict[str, dict[str, DetectionFigures]]:
    """`<output>/<run>/`: `summary.json`, `sessions.csv`, `froc.png` and the provenance in
    `provenance.json` (the run folder, as the segmentation report's, so that reports of both
    kinds sit side by side in the project resource MONAI_EVALUATION)."""
    name = report_run_name(run, "detect_eval")
    record = StepRecord("detection-evaluate-project")
    with (
        required_xnat(client, needed_by="evaluate-project") as xnat,
        staged_output(output) as staging,
    ):
        folder = staging / name
        folder.mkdir()
        figures = evaluate_project(
            xnat, project, folder, models=models, resamples=resamples, seed=seed
        )
        record.inputs[f"/projects/{project}"] = ""
        (folder / "provenance.json").write_text(
            json.dumps(record.as_dict(), indent=1) + "\n", encoding="utf-8"
        )
    return figures
