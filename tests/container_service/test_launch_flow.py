"""Launching through the sandbox's Container Service: a workflow at once, the container once
created, run by the runner on the worker pool, outputs uploaded only on success, logs kept."""

from __future__ import annotations

import io
import logging
import sqlite3
from pathlib import Path

import xnat
from rich.console import Console

from tests.container_service.sandbox_data import (
    TINY_WRAPPER,
    add_ct_session,
    installed_admin,
    make_project,
    rest,
)
from xnat_plugin.admin import launch, wait_for_launches
from xnat_plugin.admin.workflows import read_workflow


def _assessor_labels(sandbox, project: str, session_id: str) -> dict[str, list[str]]:
    """Assessor label → its resource labels, as xnatpy sees them."""
    with xnat.connect(sandbox.url, user=sandbox.user, password=sandbox.password) as session:
        experiment = session.projects[project].experiments[session_id]
        return {
            assessor.label: [r.label for r in assessor.resources.values()]
            for assessor in experiment.assessors.values()
        }


def _alias_tokens_left(sandbox) -> int:
    with sqlite3.connect(Path(sandbox.data_dir) / "sandbox.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM alias_tokens").fetchone()[0])


def test_install_enable_launch_ends_complete_with_assessor_and_resource_seen_by_xnatpy(
    sandbox, tmp_path: Path
):
    """ContainerServiceImpl.launchContainer answers with the workflow; the container row
    (ContainerEntity) appears once created and walks Docker's events to Complete."""
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    launched = launch(xapi, "LIVER", TINY_WRAPPER, f"/experiments/{session_id}")
    assert launched.workflow_id.isdigit()
    [done] = wait_for_launches(xapi, [launched], timeout=120, show_progress=False)
    assert done.container is not None
    record = xapi.get_json(f"/xapi/containers/{done.container.id}", what="read")
    stdout = xapi.request(
        "GET", f"/xapi/containers/{done.container.id}/logs/stdout", what="log"
    ).text
    workflow = read_workflow(xapi, launched.workflow_id)
    xapi.close()
    assert done.status == "Complete", record
    statuses = [h["status"] for h in record["history"]]
    assert statuses == ["Created", "start", "die", "_die", "Finalizing", "Complete"]
    assert record["history"][0]["entity-type"] == "user"
    assert record["history"][0]["entity-id"] == "admin"
    assert record["workflow-id"] == launched.workflow_id
    assert (workflow.status, workflow.container_id) == ("Complete", record["container-id"])
    kinds = {entry["name"]: entry["type"] for entry in record["inputs"]}
    assert kinds["session"] == "wrapper-external"
    assert kinds["session-label"] == "wrapper-derived"
    assert kinds["exit-code"] == "command"
    assert record["env"]["XNAT_PASS"] == "******"
    assert "tiny step on SUBJ001_CT1: 2 input files" in stdout
    assert "XNAT says: User 'admin' is logged in" in stdout
    assert _alias_tokens_left(sandbox) == 0
    assert _assessor_labels(sandbox, "LIVER", session_id) == {"SUBJ001_CT1_tinyqc": ["QC"]}


def test_a_non_zero_exit_ends_failed_with_nothing_uploaded_and_stderr_kept(
    sandbox, tmp_path: Path, caplog
):
    """ContainerFinalizeServiceImpl: a non-zero exit finalizes as `Failed` with the exit code
    of Docker's `die` and CS's message. Waited for off a terminal: one plain line says so."""
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    launched = launch(xapi, "LIVER", TINY_WRAPPER, f"/experiments/{session_id}", {"exit-code": "3"})
    log_file = io.StringIO()
    with caplog.at_level(logging.INFO, logger="xnat-monai.progress"):
        [done] = wait_for_launches(xapi, [launched], timeout=120, console=Console(file=log_file))
    assert log_file.getvalue() == ""  # no bar drawn into a file
    [line] = [r.getMessage() for r in caplog.records if r.name == "xnat-monai.progress"]
    assert line.startswith(f"container {done.container.id} (")
    assert f"/experiments/{session_id}): Failed (1/1 done" in line
    assert done.container is not None
    stderr = xapi.request(
        "GET", f"/xapi/containers/{done.container.id}/logs/stderr", what="log"
    ).text
    xapi.close()
    assert done.status == "Failed"
    assert done.container.exit_code == "3"
    assert done.reason == "Non-zero exit code and/or failure status from container"
    assert "tiny step asked to fail" in stderr
    assert _assessor_labels(sandbox, "LIVER", session_id) == {}


def test_the_launch_ui_lists_what_the_session_input_can_take(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    installed_admin(sandbox, tmp_path, ["LIVER"]).close()
    with rest(sandbox) as http:
        command_id = http.get(f"{sandbox.url}/xapi/commands").json()[0]["id"]
        response = http.get(
            f"{sandbox.url}/xapi/projects/LIVER/commands/{command_id}/wrappers/{TINY_WRAPPER}"
            "/launch",
            params={"session": f"/experiments/{session_id}"},
        )
    assert response.status_code == 200, response.text
    inputs = response.json()["input-config"]
    assert inputs["session-label"]["values"] == [{"value": "SUBJ001_CT1", "label": "SUBJ001_CT1"}]
    assert inputs["project"]["values"][0]["value"] == "LIVER"
    assert inputs["exit-code"]["default-value"] == "0"


def test_the_launch_ui_on_a_missing_session_answers_xnats_resolution_error(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    installed_admin(sandbox, tmp_path, ["LIVER"]).close()
    with rest(sandbox) as http:
        command_id = http.get(f"{sandbox.url}/xapi/commands").json()[0]["id"]
        response = http.get(
            f"{sandbox.url}/xapi/projects/LIVER/commands/{command_id}/wrappers/{TINY_WRAPPER}"
            "/launch",
            params={"session": "/experiments/NOPE_E99999"},
        )
    assert response.status_code == 500
    assert response.text.startswith("The command could not be resolved.")
