"""The sandbox answers the command, enabling and availability REST paths as XNAT does."""

from __future__ import annotations

from pathlib import Path

from tests.container_service.sandbox_data import (
    ASSESSOR_WRAPPER,
    PROJECT_WRAPPER,
    SPARE_WRAPPER,
    TINY_WRAPPER,
    add_ct_session,
    installed_admin,
    make_project,
    rest,
    tiny_command,
)


def test_registering_a_command_gives_201_with_its_id_and_ids_on_every_wrapper(sandbox):
    with rest(sandbox) as http:
        response = http.post(f"{sandbox.url}/xapi/commands", json=tiny_command())
        assert response.status_code == 201
        command_id = int(response.text)
        stored = http.get(f"{sandbox.url}/xapi/commands/{command_id}").json()
        images = http.get(f"{sandbox.url}/xapi/docker/images").json()
    assert [i["tags"] for i in images] == [["xnat-monai/tiny-qc:1.0"]]
    assert stored["name"] == "xnat-monai-tiny-qc"
    assert [w["name"] for w in stored["xnat"]] == [
        TINY_WRAPPER, SPARE_WRAPPER, ASSESSOR_WRAPPER, PROJECT_WRAPPER
    ]  # fmt: skip
    assert all(isinstance(w["id"], int) for w in stored["xnat"])


def test_the_same_name_image_and_version_is_refused_but_a_new_version_is_kept_beside(sandbox):
    with rest(sandbox) as http:
        first = http.post(f"{sandbox.url}/xapi/commands", json=tiny_command("1.0"))
        again = http.post(f"{sandbox.url}/xapi/commands", json=tiny_command("1.0"))
        newer = http.post(f"{sandbox.url}/xapi/commands", json=tiny_command("1.1"))
        listed = http.get(f"{sandbox.url}/xapi/commands").json()
    assert first.status_code == 201
    assert again.status_code == 400
    assert "duplicates a command already in the database" in again.text
    assert newer.status_code == 201
    assert sorted(c["version"] for c in listed) == ["1.0", "1.1"]


def test_an_invalid_command_is_refused_with_400_and_the_reasons(sandbox):
    bad = tiny_command()
    bad["image"] = ""
    bad["outputs"][0]["mount"] = "nowhere"
    with rest(sandbox) as http:
        response = http.post(f"{sandbox.url}/xapi/commands", json=bad)
    assert response.status_code == 400
    assert response.text.startswith("Invalid command")
    assert "image" in response.text


def test_registering_without_the_container_manager_role_is_forbidden(sandbox):
    with rest(sandbox) as http:
        created = http.post(
            f"{sandbox.url}/xapi/users",
            json={"username": "carol", "password": "carol-pw", "email": "c@example.org"},
        )
        assert created.status_code in (200, 201), created.text
    with rest(sandbox, "carol", "carol-pw") as http:
        response = http.post(f"{sandbox.url}/xapi/commands", json=tiny_command())
    assert response.status_code == 403


def test_available_lists_session_wrappers_for_a_ct_session_and_marks_the_disabled_one(
    sandbox, tmp_path: Path
):
    make_project(sandbox, "LIVER")
    add_ct_session(sandbox, "LIVER", 1)
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    with rest(sandbox) as http:
        command_id = http.get(f"{sandbox.url}/xapi/commands").json()[0]["id"]
        disabled = http.put(
            f"{sandbox.url}/xapi/projects/LIVER/commands/{command_id}/wrappers/"
            f"{SPARE_WRAPPER}/disabled"
        )
        assert disabled.status_code == 200
        menu = http.get(
            f"{sandbox.url}/xapi/commands/available",
            params={"project": "LIVER", "xsiType": "xnat:ctSessionData"},
        ).json()
        report = http.get(
            f"{sandbox.url}/xapi/projects/LIVER/commands/{command_id}/wrappers/"
            f"{SPARE_WRAPPER}/enabled"
        ).json()
    xapi.close()
    by_name = {entry["wrapper-name"]: entry for entry in menu}
    assert set(by_name) == {TINY_WRAPPER, SPARE_WRAPPER}
    assert by_name[TINY_WRAPPER]["enabled"] is True
    assert by_name[TINY_WRAPPER]["root-element-name"] == "session"
    assert by_name[SPARE_WRAPPER]["enabled"] is False
    assert report == {"enabled-for-site": True, "enabled-for-project": False, "project": "LIVER"}


def test_project_defaults_are_stored_and_read_back(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    installed_admin(sandbox, tmp_path, ["LIVER"]).close()
    with rest(sandbox) as http:
        command_id = http.get(f"{sandbox.url}/xapi/commands").json()[0]["id"]
        path = f"{sandbox.url}/xapi/projects/LIVER/commands/{command_id}/wrappers/{TINY_WRAPPER}"
        config = {"inputs": {"exit-code": {"default-value": "0", "user-settable": False}}}
        assert http.post(f"{path}/config", json=config).status_code == 200
        assert http.get(f"{path}/config").json() == config
