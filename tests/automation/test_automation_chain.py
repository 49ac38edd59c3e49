"""The main job end to end with no one launching: a session imported into a project is
segmented by the real infer command (session-created subscription), and the AI segmentation
that lands on it is evaluated by the real evaluate command's AI-segmentation wrapper
(ai-segmentation-created subscription), leaving a qcAssessment on the session.

As on XNAT (`EventServiceItemSaveAspect`, `CommandActionProvider`), the evaluation is launched
on the AI segmentation's own URI as soon as its XML is stored, while infer is still uploading
its SEG; the evaluation waits for the SEG and completes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bundles import tiny_bundle
from tests.container_service.sandbox_data import wait_until
from xnat_plugin.admin import (
    Xapi,
    install_commands,
    list_containers,
    subscribe_on_ai_segmentation_created,
    subscribe_on_session_created,
    wait_for,
)
from xnat_plugin.admin.workflows import read_workflow
from xnat_plugin.client import browse, connect
from xnat_plugin.client.objects import ensure_project
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.demo.flow import write_cpu_commands
from xnat_plugin.demo.settings import EVALUATE_SEGMENTATION_WRAPPER, INFER_WRAPPER
from xnat_plugin.runner.status import parse_status_time
from xnat_plugin.sandbox.seed.importing import import_session
from xnat_plugin.sandbox.server import running_sandbox

PROJECT = "AUTO"


def _records_by_wrapper(xapi: Xapi, container_ids: list[str]) -> dict[str, dict]:
    names = {}
    for command in xapi.get_json("/xapi/commands", what="list commands"):
        for wrapper in command["xnat"]:
            names[str(wrapper["id"])] = wrapper["name"]
    records = [xapi.get_json(f"/xapi/containers/{c}", what="read") for c in container_ids]
    return {names[str(r["wrapper-id"])]: r for r in records}


def _time_of(record: dict, status: str) -> Any:
    return min(
        parse_status_time(h["time-recorded"]) for h in record["history"] if h["status"] == status
    )


@pytest.mark.slow
def test_an_imported_session_is_segmented_then_evaluated_with_no_launch(tmp_path: Path) -> None:
    with running_sandbox(tmp_path / "xnat", workers=2) as sandbox:
        xapi = Xapi(sandbox.url, sandbox.user, sandbox.password)
        with connect(sandbox.url, sandbox.user, sandbox.password) as client:
            ensure_project(client, PROJECT)
            bundle = tiny_bundle(tmp_path / "models")
            upload_folder(
                client, f"/data/projects/{PROJECT}", "MONAI_MODELS", bundle.parent,
                show_progress=False,
            )  # fmt: skip
            install_commands(xapi, write_cpu_commands(tmp_path / "commands"), [PROJECT])
            subscribe_on_session_created(xapi, PROJECT, INFER_WRAPPER, {"model-name": "tiny"})
            subscribe_on_ai_segmentation_created(xapi, PROJECT, EVALUATE_SEGMENTATION_WRAPPER)

            seeded = import_session(client, PROJECT, 1, seed=3, site="SITE_A", matrix=64, slices=24)
            infer = wait_until(lambda: list_containers(xapi, PROJECT), timeout=60)
            wait_for(xapi, [c.id for c in infer], timeout=900, show_progress=False)
            both = wait_until(
                lambda: (found := list_containers(xapi, PROJECT)) and len(found) >= 2 and found,
                timeout=120,
            )
            finished = wait_for(xapi, [c.id for c in both], timeout=900, show_progress=False)
            assessors = browse.list_assessors(client, seeded.session_id)
        records = _records_by_wrapper(xapi, [c.id for c in finished])
        evaluate_workflow = read_workflow(
            xapi, records[EVALUATE_SEGMENTATION_WRAPPER]["workflow-id"]
        )
        xapi.close()

    assert len(finished) == 2
    assert [c.status for c in finished] == ["Complete", "Complete"], finished
    assert sorted(records) == sorted([INFER_WRAPPER, EVALUATE_SEGMENTATION_WRAPPER])
    # Launched when the AI segmentation's XML was stored, before infer had finished.
    infer_done = _time_of(records[INFER_WRAPPER], "Complete")
    assert parse_status_time(evaluate_workflow.launch_time) < infer_done
    segmentation = [
        i["value"]
        for i in records[EVALUATE_SEGMENTATION_WRAPPER]["inputs"]
        if i["type"] == "wrapper-external"
    ]
    ai = [a for a in assessors if a.xsi_type == "icr:roiCollectionData" and "_monai_" in a.label]
    assert len(ai) == 1 and segmentation[0].endswith(f"/{ai[0].id}")
    by_type = {(a.xsi_type, a.label.split("_monai_")[0]) for a in assessors}
    assert ("icr:roiCollectionData", "SUBJ001_CT1") in by_type
    evaluations = [a for a in assessors if a.xsi_type == "xnat:qcAssessmentData"]
    assert len(evaluations) == 1
    assert "_monai_eval_" in evaluations[0].label
