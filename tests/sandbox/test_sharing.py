"""Sharing subjects and experiments into other projects: the object stays in its own project
(ID, archive folder), the project it is shared into lists it and finds it by the label it has
there, read-only (`sharing/share` of xnat:subjectData and xnat:experimentData, XNAT's
`xnat_projectParticipant` / `xnat_experimentData_share`; pyxnat's `share`, `unshare` and
`shares` in its resources_test)."""

from __future__ import annotations

import pytest
import pyxnat
import requests

from xnat_plugin.sandbox.server import SandboxServer


@pytest.fixture
def admin(sandbox: SandboxServer) -> requests.Session:
    session = requests.Session()
    session.auth = (sandbox.user, sandbox.password)
    url = sandbox.url
    for project in ("P", "Q"):
        assert session.put(f"{url}/data/projects/{project}").ok
    made = session.put(
        f"{url}/data/projects/P/subjects/s1/experiments/s1_CT",
        params={"xsiType": "xnat:ctSessionData"},
    )
    assert made.status_code == 201
    return session


def _ids(response: requests.Response, column: str = "ID") -> list[str]:
    assert response.status_code == 200, response.text
    return [r[column] for r in response.json()["ResultSet"]["Result"]]


def test_a_shared_subject_is_listed_and_found_in_the_other_project(sandbox, admin) -> None:
    url = sandbox.url
    subject = f"{url}/data/projects/P/subjects/s1"
    shared = admin.put(f"{subject}/projects/Q", params={"label": "q_s1"})
    assert (shared.status_code, shared.text) == (201, "XNAT_S00001")
    assert _ids(admin.get(f"{subject}/projects", params={"format": "json"})) == ["P", "Q"]
    in_q = admin.get(f"{url}/data/projects/Q/subjects", params={"format": "json"})
    assert [(r["ID"], r["label"]) for r in in_q.json()["ResultSet"]["Result"]] == [
        ("XNAT_S00001", "q_s1")
    ]
    by_label = admin.get(f"{url}/data/projects/Q/subjects/q_s1", params={"format": "json"})
    assert by_label.json()["items"][0]["data_fields"]["ID"] == "XNAT_S00001"
    # the object keeps its own project and label, and lists its shares as XNAT writes them
    item = by_label.json()["items"][0]
    assert item["data_fields"]["project"] == "P"
    shares = [c for c in item["children"] if c["field"] == "sharing/share"]
    assert shares[0]["items"][0]["data_fields"] == {"project": "Q", "label": "q_s1"}
    assert shares[0]["items"][0]["meta"]["xsi:type"] == "xnat:projectParticipant"
    document = admin.get(f"{subject}", params={"format": "xml"}).text
    assert '<xnat:share project="Q" label="q_s1"' in document
    assert admin.delete(f"{subject}/projects/Q").ok
    assert admin.get(f"{url}/data/projects/Q/subjects/q_s1").status_code == 404
    assert _ids(admin.get(f"{subject}/projects", params={"format": "json"})) == ["P"]


def test_a_shared_experiment_is_listed_in_the_other_project(sandbox, admin) -> None:
    url = sandbox.url
    experiment = f"{url}/data/projects/P/subjects/s1/experiments/s1_CT"
    assert admin.put(f"{experiment}/projects/Q").status_code == 201
    listed = admin.get(f"{url}/data/projects/Q/experiments", params={"format": "json"})
    assert [(r["ID"], r["label"]) for r in listed.json()["ResultSet"]["Result"]] == [
        ("XNAT_E00001", "s1_CT")
    ]
    # under the shared subject in Q: only what is in Q (`ProjSubExptList`)
    assert admin.put(f"{url}/data/projects/P/subjects/s1/projects/Q").ok
    under_subject = f"{url}/data/projects/Q/subjects/s1/experiments"
    assert _ids(admin.get(under_subject, params={"format": "json"})) == ["XNAT_E00001"]
    assert admin.delete(f"{experiment}/projects/Q").ok
    assert _ids(admin.get(under_subject, params={"format": "json"})) == []
    assert admin.put(f"{experiment}/projects/Q").status_code == 201
    found = admin.get(f"{url}/data/projects/Q/experiments/s1_CT", params={"format": "json"})
    assert found.json()["items"][0]["data_fields"]["ID"] == "XNAT_E00001"
    again = admin.put(f"{experiment}/projects/Q")
    assert again.status_code == 200  # already shared: nothing new


def test_sharing_is_refused_where_xnat_refuses_it(sandbox, admin) -> None:
    """No label twice in one project ("Specified label is already in use."), not into the
    object's own project, not into a project that does not exist, and only into a project the
    caller may add data to."""
    url = sandbox.url
    subject = f"{url}/data/projects/P/subjects/s1"
    assert admin.put(f"{url}/data/projects/Q/subjects/taken").ok
    assert admin.put(f"{subject}/projects/Q", params={"label": "taken"}).status_code == 409
    assert admin.put(f"{subject}/projects/P").status_code == 409
    assert admin.put(f"{subject}/projects/NOPE").status_code == 404
    assert admin.delete(f"{subject}/projects/Q").status_code == 404  # not shared there
    created = admin.post(
        f"{url}/xapi/users",
        json={"username": "reader", "password": "reader-pw", "email": "r@example.org"},
    )
    assert created.status_code == 201
    assert admin.put(f"{url}/data/projects/P/users/Members/reader").ok
    assert admin.put(f"{url}/data/projects/Q/users/Collaborators/reader").ok
    reader = requests.Session()
    reader.auth = ("reader", "reader-pw")
    assert reader.put(f"{subject}/projects/Q").status_code == 403


def test_shared_data_is_read_only_in_the_project_it_is_shared_into(sandbox, admin) -> None:
    """A member of Q only reads the subject P shared into Q; a change through Q's path is
    checked against P, where the object lives."""
    url = sandbox.url
    assert admin.put(f"{url}/data/projects/P/subjects/s1/projects/Q").ok
    assert admin.post(
        f"{url}/xapi/users",
        json={"username": "qmember", "password": "qmember-pw", "email": "q@example.org"},
    ).ok
    assert admin.put(f"{url}/data/projects/Q/users/Members/qmember").ok
    member = requests.Session()
    member.auth = ("qmember", "qmember-pw")
    read = member.get(f"{url}/data/projects/Q/subjects/s1", params={"format": "json"})
    assert read.status_code == 200
    assert member.get(f"{url}/data/projects/P/subjects/s1").status_code == 403
    changed = member.put(f"{url}/data/projects/Q/subjects/s1", params={"gender": "male"})
    assert changed.status_code == 403


def test_pyxnat_shares_and_unshares(sandbox, admin) -> None:
    """pyxnat's resources_test test_22..25: `share`, `shares().get()`, `unshare`."""
    interface = pyxnat.Interface(server=sandbox.url, user=sandbox.user, password=sandbox.password)
    subject = interface.select.project("P").subject("XNAT_S00001")
    assert not interface.select.project("Q").subject("XNAT_S00001").exists()
    assert subject.shares().get() == ["P"]
    subject.share("Q")
    assert interface.select.project("Q").subject("XNAT_S00001").exists()
    assert subject.shares().get() == ["P", "Q"]
    # by label: given an ID, pyxnat rewrites a project's experiment to its primary project
    experiment = subject.experiment("s1_CT")
    experiment.share("Q")
    assert interface.select.project("Q").experiment("s1_CT").exists()
    experiment.unshare("Q")
    assert not interface.select.project("Q").experiment("s1_CT").exists()
    subject.unshare("Q")
    assert subject.shares().get() == ["P"]


def test_deleting_through_the_sharing_project_removes_only_the_share(sandbox, admin) -> None:
    """A shared subject or experiment deleted through the project it is shared into is
    unshared there; the object stays in its own project with its files."""
    url = sandbox.url
    assert admin.put(f"{url}/data/projects/P/subjects/s1/projects/Q").ok
    experiment = f"{url}/data/projects/P/subjects/s1/experiments/s1_CT"
    assert admin.put(f"{experiment}/projects/Q").ok
    assert admin.put(
        f"{experiment}/resources/NOTES/files/n.txt", data=b"kept", params={"inbody": "true"}
    ).ok
    assert admin.delete(f"{url}/data/projects/Q/experiments/s1_CT").ok
    assert admin.get(f"{url}/data/projects/Q/experiments/s1_CT").status_code == 404
    assert admin.get(f"{experiment}/resources/NOTES/files/n.txt").content == b"kept"
    assert admin.delete(f"{url}/data/projects/Q/subjects/s1").ok
    assert admin.get(f"{url}/data/projects/Q/subjects/s1").status_code == 404
    assert admin.get(f"{url}/data/projects/P/subjects/s1").status_code == 200
