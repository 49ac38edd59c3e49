"""Project IDs, titles, running titles and aliases as XNAT keeps them apart
(`BaseXnatProjectdata.validateProjectFields`, `getProjectByIDorAlias`), and accessibility
(`ProjectAccessibilityResource`)."""

from __future__ import annotations

import pytest
import requests

from xnat_plugin.sandbox.server import SandboxServer


@pytest.fixture
def admin(sandbox: SandboxServer) -> requests.Session:
    session = requests.Session()
    session.auth = (sandbox.user, sandbox.password)
    return session


def test_a_secondary_id_cannot_squat_another_projects_id(sandbox, admin) -> None:
    """`ProjectResource.handlePut` → 409 with `validateElements`' message (values lower case)."""
    assert admin.put(f"{sandbox.url}/data/projects/LIVER").status_code == 201
    squat = admin.put(f"{sandbox.url}/data/projects/OTHER", params={"secondary_ID": "LIVER"})
    assert squat.status_code == 409
    assert squat.text == (
        "Requested new project conflicts with existing projects: "
        "Invalid Running Title: 'liver' is already being used."
    )
    assert (
        admin.get(f"{sandbox.url}/data/projects/OTHER", params={"format": "json"}).status_code
        == 404
    )


def test_a_project_is_found_by_id_or_alias_never_by_secondary_id(sandbox, admin) -> None:
    made = admin.put(
        f"{sandbox.url}/data/projects/P1",
        params={"secondary_ID": "RUNNING", "name": "Project one", "alias": "first"},
    )
    assert made.status_code == 201
    by_alias = admin.get(f"{sandbox.url}/data/projects/first", params={"format": "json"})
    assert by_alias.json()["items"][0]["data_fields"]["ID"] == "P1"
    assert (
        admin.get(f"{sandbox.url}/data/projects/RUNNING", params={"format": "json"}).status_code
        == 404
    )


def test_titles_and_aliases_are_unique_across_projects(sandbox, admin) -> None:
    assert admin.put(f"{sandbox.url}/data/projects/P1", params={"name": "Liver study"}).ok
    same_title = admin.put(f"{sandbox.url}/data/projects/P2", params={"name": "LIVER STUDY"})
    assert (same_title.status_code, same_title.text) == (
        409,
        "Requested new project conflicts with existing projects: "
        "Invalid Project Title: 'liver study' is already being used.",
    )
    alias_is_an_id = admin.put(f"{sandbox.url}/data/projects/P3", params={"alias": "p1"})
    assert alias_is_an_id.status_code == 409
    assert "Invalid Alias: 'p1' is already being used." in alias_is_an_id.text


def test_a_deleted_projects_id_cannot_be_reused(sandbox, admin) -> None:
    """`ProjectResource.handlePut`: the ID is in `xnat_projectdata_history`."""
    assert admin.put(f"{sandbox.url}/data/projects/GONE").ok
    assert admin.delete(f"{sandbox.url}/data/projects/GONE").ok
    again = admin.put(f"{sandbox.url}/data/projects/GONE")
    assert (again.status_code, again.text) == (
        403,
        "Project 'GONE' was used in a previously deleted project and cannot be reused.",
    )


def test_accessibility_defaults_to_protected_and_owners_change_it(sandbox, admin) -> None:
    """`BaseXnatProjectdata.createProject`: no `accessibility` → protected."""
    assert admin.put(f"{sandbox.url}/data/projects/P1").ok
    assert admin.put(f"{sandbox.url}/data/projects/P2", params={"accessibility": "private"}).ok
    assert admin.get(f"{sandbox.url}/data/projects/P1/accessibility").text == "protected"
    assert admin.get(f"{sandbox.url}/data/projects/P2/accessibility").text == "private"
    assert admin.put(f"{sandbox.url}/data/projects/P1/accessibility/public").ok
    assert admin.get(f"{sandbox.url}/data/projects/P1/accessibility").text == "public"
    refused = admin.put(f"{sandbox.url}/data/projects/P1/accessibility/everyone")
    assert refused.status_code == 400


def test_the_archive_settings_of_a_new_project(sandbox, admin) -> None:
    """`initArcProjectImpl`: current arc `arc001`, prearchive code 4 (site default), quarantine 0."""
    assert admin.put(f"{sandbox.url}/data/projects/P1").ok
    base = f"{sandbox.url}/data/projects/P1"
    assert [
        admin.get(f"{base}/{name}").text
        for name in ("current_arc", "prearchive_code", "quarantine_code")
    ] == ["arc001", "4", "0"]
    assert admin.put(f"{base}/prearchive_code/0").ok
    assert admin.get(f"{base}/prearchive_code").text == "0"
