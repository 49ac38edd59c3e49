"""Controlling launches: project defaults reach the container, the wrapper-id path form
launches too, a running container can be killed (`ContainerServiceImpl.kill`: a `kill` by the
user, `Failed (Killed)` as `ContainerEntity.mapStatus` maps it, then finalized as `Failed`), a
deleted subscription stops launching, and a project owner's rights end at their own project."""

from __future__ import annotations

from pathlib import Path

from tests.container_service.sandbox_data import (
    TINY_WRAPPER,
    add_ct_session,
    installed_admin,
    make_project,
    rest,
    wait_until,
)
from xnat_plugin.admin import (
    Xapi,
    launch,
    list_containers,
    subscribe_on_session_created,
    wait_for_launches,
)
from xnat_plugin.admin.workflows import read_workflow
from xnat_plugin.sandbox.server import running_sandbox


def test_a_project_default_reaches_the_container(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    command_id = xapi.get_json("/xapi/commands", what="list")[0]["id"]
    xapi.post_json(
        f"/xapi/projects/LIVER/commands/{command_id}/wrappers/{TINY_WRAPPER}/config",
        {"inputs": {"exit-code": {"default-value": "5"}}},
        what="configure",
    )
    launched = launch(xapi, "LIVER", TINY_WRAPPER, f"/experiments/{session_id}")
    [done] = wait_for_launches(xapi, [launched], timeout=120, show_progress=False)
    xapi.close()
    assert done.status == "Failed"
    assert done.container is not None and done.container.exit_code == "5"


def test_the_wrapper_id_form_of_the_launch_path_launches_too(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    installed_admin(sandbox, tmp_path, ["LIVER"]).close()
    with rest(sandbox) as http:
        command = http.get(f"{sandbox.url}/xapi/commands").json()[0]
        wrapper_id = next(w["id"] for w in command["xnat"] if w["name"] == TINY_WRAPPER)
        report = http.post(
            f"{sandbox.url}/xapi/projects/LIVER/wrappers/{wrapper_id}/root/session/launch",
            json={"session": f"/experiments/{session_id}"},
        ).json()
        [container] = wait_until(
            lambda: http.get(f"{sandbox.url}/xapi/containers").json(), timeout=60
        )
    assert report["status"] == "success"
    assert (report["wrapper-id"], report["command-id"]) == (wrapper_id, 0)
    assert container["workflow-id"] == report["workflow-id"]
    assert container["wrapper-id"] == wrapper_id and container["project"] == "LIVER"


def test_a_running_container_can_be_killed(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    launched = launch(
        xapi, "LIVER", TINY_WRAPPER, f"/experiments/{session_id}", {"sleep-seconds": "60"}
    )
    cid = wait_until(lambda: read_workflow(xapi, launched.workflow_id).container_id, timeout=60)
    wait_until(
        lambda: xapi.get_json(f"/xapi/containers/{cid}", what="read")["status"] == "Running",
        timeout=60,
    )
    answer = xapi.request("POST", f"/xapi/containers/{cid}/kill", what="kill")
    # Terminal at once (ContainerUtils.statusIsTerminal): a waiting client stops here.
    [done] = wait_for_launches(xapi, [launched], timeout=30, show_progress=False)
    record = wait_until(
        lambda: (
            (got := xapi.get_json(f"/xapi/containers/{cid}", what="read"))["status"] == "Failed"
            and got
        ),
        timeout=30,
    )
    xapi.close()
    assert answer.text == cid
    assert done.status in ("Failed (Killed)", "Failed")
    kill = next(h for h in record["history"] if h["status"] == "kill")
    assert (kill["entity-type"], kill["entity-id"]) == ("user", "admin")
    # The kill made the status `Failed (Killed)`, which finalizing queued and then ended.
    statuses = [h["status"] for h in record["history"]]
    assert statuses[statuses.index("kill") + 1 :] == [
        "die", "_Failed (Killed)", "Finalizing", "Failed"
    ]  # fmt: skip
    assert record["history"][-1]["exitCode"] == "137"


def test_a_deleted_subscription_launches_nothing_more(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    info = subscribe_on_session_created(xapi, "LIVER", TINY_WRAPPER)
    first = add_ct_session(sandbox, "LIVER", 1)
    wait_until(lambda: list_containers(xapi), timeout=30)
    xapi.request("DELETE", f"/xapi/events/subscription/{info.id}", what="unsubscribe")
    add_ct_session(sandbox, "LIVER", 2)
    containers = list_containers(xapi)
    subscriptions = xapi.get_json("/xapi/events/subscriptions", what="list")
    xapi.close()
    assert [c.target.rsplit("/", 1)[-1] for c in containers] == [first]
    assert subscriptions == []


def test_a_project_owner_manages_their_project_but_not_another(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    make_project(sandbox, "OTHER")
    installed_admin(sandbox, tmp_path, ["LIVER", "OTHER"]).close()
    with rest(sandbox) as http:
        http.post(
            f"{sandbox.url}/xapi/users",
            json={"username": "olga", "password": "olga-pw", "email": "o@example.org"},
        ).raise_for_status()
        http.put(f"{sandbox.url}/data/projects/LIVER/users/Owners/olga").raise_for_status()
        command_id = http.get(f"{sandbox.url}/xapi/commands").json()[0]["id"]
    path = f"/commands/{command_id}/wrappers/{TINY_WRAPPER}/disabled"
    with rest(sandbox, "olga", "olga-pw") as http:
        own = http.put(f"{sandbox.url}/xapi/projects/LIVER{path}")
        other = http.put(f"{sandbox.url}/xapi/projects/OTHER{path}")
        site = http.put(f"{sandbox.url}/xapi{path}")
    assert own.status_code == 200
    assert other.status_code == 403
    assert site.status_code == 403


def test_stopping_the_sandbox_ends_running_jobs_and_queued_ones_run_after_a_restart(
    tmp_path: Path,
):
    data_dir = tmp_path / "xnat"
    with running_sandbox(data_dir) as first:
        make_project(first, "LIVER")
        session_id = add_ct_session(first, "LIVER", 1)
        xapi = installed_admin(first, tmp_path, ["LIVER"])
        target = f"/experiments/{session_id}"
        running = launch(xapi, "LIVER", TINY_WRAPPER, target, {"sleep-seconds": "30"})
        queued = launch(xapi, "LIVER", TINY_WRAPPER, target)
        wait_until(
            lambda: (
                (cid := read_workflow(xapi, running.workflow_id).container_id)
                and xapi.get_json(f"/xapi/containers/{cid}", what="read")["status"] == "Running"
            ),
            timeout=60,
        )
        status = read_workflow(xapi, queued.workflow_id).status
        xapi.close()
    assert status == "_Queued"
    with running_sandbox(data_dir) as second:
        xapi = Xapi(second.url, second.user, second.password)
        finished = wait_for_launches(xapi, [running, queued], timeout=120, show_progress=False)
        xapi.close()
    # The running one was ended when its server stopped; the queued one ran after the restart.
    assert [c.status for c in finished] == ["Failed", "Complete"]
