"""A bulk launch answers as `ContainerServiceImpl.bulkLaunch` does: one success per target, each
with workflow id "To be assigned" and no container id, the launches made afterwards on CS's
executor with the bulk-launch id as their workflows' job id. `launch --all-sessions --wait`
finds those workflows (`WorkflowsRestlet`, by job id) and follows every one to its end."""

from __future__ import annotations

import json
from pathlib import Path

from tests.container_service.sandbox_data import (
    TINY_WRAPPER,
    add_ct_session,
    installed_admin,
    make_project,
    rest,
)
from xnat_plugin.admin import assign_workflows, bulk_launch, wait_for_launches
from xnat_plugin.admin.workflows import workflows_on
from xnat_plugin.cli import main


def test_every_bulk_success_is_to_be_assigned_with_no_container_id(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    sessions = [add_ct_session(sandbox, "LIVER", i) for i in (1, 2)]
    installed_admin(sandbox, tmp_path, ["LIVER"]).close()
    uris = [f"/experiments/{s}" for s in sessions]
    with rest(sandbox) as http:
        command_id = http.get(f"{sandbox.url}/xapi/commands").json()[0]["id"]
        report = http.post(
            f"{sandbox.url}/xapi/projects/LIVER/commands/{command_id}/wrappers/{TINY_WRAPPER}"
            "/root/session/bulklaunch",
            json={"session": json.dumps(uris)},
        ).json()
    assert report["bulk-launch-id"].startswith("bulk-admin")
    assert report["pipeline-name"] == TINY_WRAPPER
    assert report["failures"] == []
    assert [s["params"]["session"] for s in report["successes"]] == uris
    for success in report["successes"]:
        assert success["status"] == "success"
        assert success["workflow-id"] == "To be assigned"
        assert success["id"] is None
        assert "container-id" not in success


def test_a_bulk_launch_over_twenty_sessions_is_found_and_followed_to_the_end(
    sandbox, tmp_path: Path
):
    make_project(sandbox, "LIVER")
    session_ids = {add_ct_session(sandbox, "LIVER", i) for i in range(1, 21)}
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    bulk = bulk_launch(xapi, "LIVER", TINY_WRAPPER)
    assert bulk.failures == []
    assert {item.workflow_id for item in bulk.launched} == {"To be assigned"}
    launched = assign_workflows(xapi, bulk)
    finished = wait_for_launches(xapi, launched, timeout=600, show_progress=False)
    jobs = {w.job_id for s in session_ids for w in workflows_on(xapi, TINY_WRAPPER, s)}
    xapi.close()
    assert {item.target for item in launched} == {f"/experiments/{s}" for s in session_ids}
    assert len({item.workflow_id for item in launched}) == 20
    assert jobs == {bulk.bulk_launch_id}
    assert [job.status for job in finished] == ["Complete"] * 20
    assert all(job.container is not None for job in finished)


def test_all_sessions_wait_reports_each_launch_and_a_failure_fails_the_command(
    sandbox, tmp_path: Path, capsys
):
    make_project(sandbox, "LIVER")
    for index in (1, 2):
        add_ct_session(sandbox, "LIVER", index)
    installed_admin(sandbox, tmp_path, ["LIVER"]).close()
    common = ["--xnat", sandbox.url, "--user", "admin", "--password", "admin"]
    code = main(
        [
            "launch", *common, "--project", "LIVER", "--wrapper", TINY_WRAPPER,
            "--all-sessions", "--input", "exit-code=2", "--wait", "--timeout", "120",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 2
    assert "2 launched, 0 refused" in out
    assert out.count("Non-zero exit code") == 2
