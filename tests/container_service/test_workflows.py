"""A launch is a workflow first: `ContainerServiceImpl.launchContainer` creates it
(`createContainerWorkflow`: the root object's ID and type, the project, the wrapper as pipeline
name, "Container launch") and queues it (`_Queued`); the consumer stages it
(`consumeResolveCommandAndLaunchContainer`: `Staging` "Command resolution") and records a
failure before the container exists on the workflow only (`handleFailure`). XNAT serves it at
`/data/workflows/{id}` (`WorkflowResource`) and lists it per pipeline
(`/data/services/workflows/{pipeline}`, `WorkflowsRestlet`). `launch --wait` and `status` read
the workflow, so a resolution failure is reported with its reason, and a launch whose
container does not exist yet shows as waiting for one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.container_service.sandbox_data import (
    SPARE_WRAPPER,
    TINY_WRAPPER,
    add_ct_session,
    installed_admin,
    make_project,
    rest,
    wait_until,
)
from xnat_plugin.admin import launch, wait_for_launches
from xnat_plugin.admin.workflows import read_workflow, workflows_on
from xnat_plugin.cli import main

RESOLUTION_PREFIX = "Submitted data does not match command resolution requirements. "


def _launch_path(http: Any, sandbox: Any, wrapper: str = TINY_WRAPPER) -> str:
    command_id = http.get(f"{sandbox.url}/xapi/commands").json()[0]["id"]
    return f"{sandbox.url}/xapi/projects/LIVER/commands/{command_id}/wrappers/{wrapper}"


def test_a_launch_answers_its_workflow_which_xnat_serves_as_an_item(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    installed_admin(sandbox, tmp_path, ["LIVER"]).close()
    with rest(sandbox) as http:
        base = _launch_path(http, sandbox)
        answer = http.post(
            f"{base}/root/session/launch", json={"session": f"/experiments/{session_id}"}
        )
        report = answer.json()
        item = http.get(
            f"{sandbox.url}/data/workflows/{report['workflow-id']}", params={"format": "json"}
        ).json()
        xml = http.get(f"{sandbox.url}/data/workflows/{report['workflow-id']}")
        missing = http.get(f"{sandbox.url}/data/workflows/999999")
    assert answer.status_code == 200
    assert report["status"] == "success"
    assert report["id"] is None and "container-id" not in report
    assert report["wrapper-id"] == 0 and report["command-id"] > 0
    [entry] = item["items"]
    assert entry["meta"]["xsi:type"] == "wrk:workflowData"
    fields = entry["data_fields"]
    assert fields["wrk_workflowData_id"] == int(report["workflow-id"])
    assert (fields["ID"], fields["data_type"]) == (session_id, "xnat:ctSessionData")
    assert (fields["ExternalID"], fields["pipeline_name"]) == ("LIVER", TINY_WRAPPER)
    assert fields["justification"] == "Container launch"
    assert fields["create_user"] == "admin"
    assert xml.headers["content-type"].startswith("text/xml")
    assert "<wrk:Workflow " in xml.text and f'ID="{session_id}"' in xml.text
    assert (missing.status_code, missing.text) == (404, "Unable to find the specified workflow.")


def test_a_value_xnat_refuses_fails_the_workflow_in_resolution_with_no_container(
    sandbox, tmp_path: Path
):
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    # CommandResolutionServiceImpl.checkForIllegalInputValue runs in resolution, not at launch.
    launched = launch(
        xapi, "LIVER", TINY_WRAPPER, f"/experiments/{session_id}", {"exit-code": "(0)"}
    )
    [done] = wait_for_launches(xapi, [launched], timeout=60, show_progress=False)
    containers = xapi.get_json("/xapi/containers", what="list")
    xapi.close()
    assert done.status == "Failed (Command resolution)"
    assert done.container is None
    assert done.reason == (
        RESOLUTION_PREFIX + 'Input "exit-code" has a value containing illegal string "(".'
    )
    assert containers == []


def test_a_launch_on_a_missing_object_keeps_the_value_as_the_workflow_id(sandbox, tmp_path):
    make_project(sandbox, "LIVER")
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    launched = launch_unchecked(sandbox, "/experiments/NOPE_E99999")
    [done] = wait_for_launches(xapi, [launched], timeout=60, show_progress=False)
    workflow = read_workflow(xapi, launched.workflow_id)
    xapi.close()
    assert (workflow.item_id, workflow.status) == (
        "/experiments/NOPE_E99999",
        "Failed (Command resolution)",
    )
    assert done.reason.startswith(RESOLUTION_PREFIX)


def launch_unchecked(sandbox: Any, root: str, wrapper: str = TINY_WRAPPER) -> Any:
    """A launch straight over REST (the admin verb checks the target first)."""
    from xnat_plugin.admin.launching import Launched

    with rest(sandbox) as http:
        report = http.post(
            f"{_launch_path(http, sandbox, wrapper)}/root/session/launch", json={"session": root}
        ).json()
    return Launched(root, report["workflow-id"], wrapper)


def test_an_unknown_wrapper_id_is_refused_and_a_disabled_wrapper_still_launches(
    sandbox, tmp_path: Path
):
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    with rest(sandbox) as http:
        unknown = http.post(
            f"{sandbox.url}/xapi/projects/LIVER/wrappers/999/root/session/launch",
            json={"session": f"/experiments/{session_id}"},
        )
        disabled = http.put(f"{_launch_path(http, sandbox, SPARE_WRAPPER)}/disabled")
    assert disabled.status_code == 200
    # ContainerServiceImpl.launchContainer checks no enablement: the REST launch runs.
    launched = launch_unchecked(sandbox, f"/experiments/{session_id}", SPARE_WRAPPER)
    [done] = wait_for_launches(xapi, [launched], timeout=120, show_progress=False)
    xapi.close()
    assert unknown.status_code == 500
    assert unknown.json()["status"] == "failure"
    assert unknown.json()["message"] == "No command wrapper for id 999"
    assert done.status == "Complete"


def test_workflows_are_listed_per_pipeline_and_experiment(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    first, second = (add_ct_session(sandbox, "LIVER", i) for i in (1, 2))
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    launches = [
        launch(xapi, "LIVER", TINY_WRAPPER, f"/experiments/{s}") for s in (first, first, second)
    ]
    wait_for_launches(xapi, launches, timeout=120, show_progress=False)
    on_first = workflows_on(xapi, TINY_WRAPPER, first)
    with rest(sandbox) as http:
        base = f"{sandbox.url}/data/services/workflows/{TINY_WRAPPER}"
        latest = http.get(base, params={"experiment": first, "format": "json"}).json()
        per_object = http.get(base, params={"project": "LIVER", "format": "json"}).json()
        none = http.get(
            f"{sandbox.url}/data/services/workflows/other-pipeline",
            params={"experiment": first, "format": "json"},
        )
    xapi.close()
    assert sorted(w.id for w in on_first) == sorted(x.workflow_id for x in launches[:2])
    assert latest["items"][0]["data_fields"]["wrk_workflowData_id"] == int(launches[1].workflow_id)
    rows = per_object["ResultSet"]["Result"]
    assert sorted(r["id"] for r in rows) == sorted([first, second])
    assert {r["status"] for r in rows} == {"Complete"}
    assert none.status_code == 404


def test_a_launch_with_no_container_yet_shows_as_waiting_for_one(sandbox, tmp_path, capsys):
    """With the one worker busy, the next launch's workflow stays queued with no container,
    as a first launch does on XNAT while the image is pulled."""
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    target = f"/experiments/{session_id}"
    busy = launch(xapi, "LIVER", TINY_WRAPPER, target, {"sleep-seconds": "30"})
    waiting = launch(xapi, "LIVER", TINY_WRAPPER, target)
    wait_until(lambda: read_workflow(xapi, busy.workflow_id).container_id, timeout=60)
    common = ["--xnat", sandbox.url, "--user", "admin", "--password", "admin"]
    assert main(["status", *common, "--project", "LIVER"]) == 0
    out = capsys.readouterr().out
    assert read_workflow(xapi, waiting.workflow_id).status == "_Queued"
    for container in xapi.get_json("/xapi/containers", what="list"):
        xapi.request("POST", f"/xapi/containers/{container['id']}/kill", what="kill")
    xapi.close()
    assert "_Queued" in out and "no container yet" in out


def test_launch_wait_reports_a_resolution_failure_with_its_reason_within_seconds(
    sandbox, tmp_path: Path, capsys, caplog
):
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    installed_admin(sandbox, tmp_path, ["LIVER"]).close()
    argv = [
        "launch", "--xnat", sandbox.url, "--user", "admin", "--password", "admin",
        "--project", "LIVER", "--wrapper", TINY_WRAPPER, "--target", f"/experiments/{session_id}",
        "--input", "exit-code=a;b", "--wait", "--timeout", "60",
    ]  # fmt: skip
    started = time.monotonic()
    code = main(argv)
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert code == 2
    assert "Failed (Command resolution)" in out
    assert 'illegal string ";"' in out.replace("\n", "")
    assert elapsed < 10, elapsed
    assert json.dumps("1 of 1 launch(es) did not complete") in json.dumps(
        [r.getMessage() for r in caplog.records]
    )
