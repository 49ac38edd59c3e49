"""Who may kill a container, and who sees it, as Container Service decides.

`ContainerServiceImpl.verifyKillPermission`: the user who launched it, a user with all-data
admin rights, or the owner of its project; anyone else gets `UnauthorizedException` (401,
"Unable to determine user permissions", the message of the exception it is wrapped in). A
project member is not an owner. `ContainerRestApi.isUserOwnerOrAdmin` decides the listings
(others' containers are left out) and `scrubProtectedData` what a single read shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.container_service.sandbox_data import (
    TINY_WRAPPER,
    add_ct_session,
    installed_admin,
    make_project,
    rest,
    wait_until,
)
from xnat_plugin.admin import Xapi
from xnat_plugin.admin.workflows import read_workflow

USERS = {"olga": "Owners", "mike": "Members", "lena": "Members", "carl": "Collaborators"}


def _add_users(sandbox: Any) -> None:
    with rest(sandbox) as http:
        for login, group in USERS.items():
            http.post(
                f"{sandbox.url}/xapi/users",
                json={"username": login, "password": f"{login}-pw", "email": f"{login}@x.org"},
            ).raise_for_status()
            http.put(f"{sandbox.url}/data/projects/LIVER/users/{group}/{login}").raise_for_status()


def _running_container_of(sandbox: Any, login: str, session_id: str) -> str:
    """A container `login` launched (straight over REST, as the launch UI does)."""
    with rest(sandbox) as http:
        command_id = http.get(f"{sandbox.url}/xapi/commands").json()[0]["id"]
    with rest(sandbox, login, f"{login}-pw") as http:
        report = http.post(
            f"{sandbox.url}/xapi/projects/LIVER/commands/{command_id}/wrappers/{TINY_WRAPPER}"
            "/root/session/launch",
            json={"session": f"/experiments/{session_id}", "sleep-seconds": "60"},
        ).json()
    with Xapi(sandbox.url, sandbox.user, sandbox.password) as xapi:
        return str(wait_until(lambda: read_workflow(xapi, report["workflow-id"]).container_id, 60))


def _kill(sandbox: Any, login: str, container: str, project: bool = False) -> Any:
    password = sandbox.password if login == "admin" else f"{login}-pw"
    prefix = "/xapi/projects/LIVER" if project else "/xapi"
    with rest(sandbox, login, password) as http:
        return http.post(f"{sandbox.url}{prefix}/containers/{container}/kill", timeout=30)


def test_only_the_launcher_an_admin_or_the_project_owner_may_kill(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    installed_admin(sandbox, tmp_path, ["LIVER"]).close()
    _add_users(sandbox)
    refused = []
    for stranger in ("carl", "mike"):
        container = _running_container_of(sandbox, "lena", session_id)
        for project_path in (False, True):
            answer = _kill(sandbox, stranger, container, project_path)
            refused.append((answer.status_code, answer.text))
        with rest(sandbox) as http:
            status = http.get(f"{sandbox.url}/xapi/containers/{container}").json()["status"]
        assert status != "Failed (Killed)" and not status.startswith("Failed")
        assert _kill(sandbox, "lena", container).status_code == 200  # the launcher may
    for allowed in ("olga", "admin"):
        container = _running_container_of(sandbox, "lena", session_id)
        answer = _kill(sandbox, allowed, container)
        assert answer.status_code == 200, (allowed, answer.text)
        with rest(sandbox) as http:
            history = http.get(f"{sandbox.url}/xapi/containers/{container}").json()["history"]
        kill = next(h for h in history if h["status"] == "kill")
        assert kill["entity-id"] == allowed
    assert refused == [(401, "Unable to determine user permissions")] * 4


def test_others_do_not_see_a_container_in_listings_and_read_it_scrubbed(sandbox, tmp_path):
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    installed_admin(sandbox, tmp_path, ["LIVER"]).close()
    _add_users(sandbox)
    container = _running_container_of(sandbox, "lena", session_id)
    seen = {}
    for login in ("lena", "olga", "carl"):
        with rest(sandbox, login, f"{login}-pw") as http:
            listed = http.get(f"{sandbox.url}/xapi/projects/LIVER/containers").json()
            one = http.get(f"{sandbox.url}/xapi/containers/{container}").json()
            log = http.get(f"{sandbox.url}/xapi/containers/{container}/logs/stdout")
        seen[login] = ([c["container-id"] for c in listed], one, log.status_code)
    _kill(sandbox, "lena", container)
    assert seen["lena"][0] == seen["olga"][0] == [container]
    assert seen["carl"][0] == []
    scrubbed = seen["carl"][1]
    assert scrubbed["command-line"] == "[REDACTED]"
    assert scrubbed["history"] == [] and scrubbed["inputs"] == [] and scrubbed["env"] == {}
    assert seen["lena"][1]["history"] != []
    assert seen["carl"][2] == 403
