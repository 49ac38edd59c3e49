"""IDs as XNAT gives them: a client's own ID is kept, a generated one never collides with a
taken one (`org.nrg.xnat.turbine.utils.IDGenerator.generateIdentifier` skips every claimed ID,
deleted ones included), and an ID names the object everywhere."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.xml_documents import roi_collection_xml
from xnat_plugin.sandbox.server import SandboxServer


@pytest.fixture
def admin(sandbox: SandboxServer) -> requests.Session:
    session = requests.Session()
    session.auth = (sandbox.user, sandbox.password)
    assert session.put(f"{sandbox.url}/data/projects/P").ok
    return session


def _put_session(admin: requests.Session, url: str, subject: str, label: str, **params: str):
    return admin.put(
        f"{url}/data/projects/P/subjects/{subject}/experiments/{label}",
        params={"xsiType": "xnat:mrSessionData", **params},
    )


def test_a_client_supplied_experiment_id_is_kept_and_names_the_experiment(sandbox, admin) -> None:
    """`SubjAssessmentResource.handlePut`: `CreateNewID()` only when the item has no ID."""
    made = _put_session(admin, sandbox.url, "s1", "x", ID="TEST_PROBE1")
    assert (made.status_code, made.text) == (201, "TEST_PROBE1")
    direct = admin.get(f"{sandbox.url}/data/experiments/TEST_PROBE1", params={"format": "json"})
    assert direct.status_code == 200
    assert direct.json()["items"][0]["data_fields"]["label"] == "x"
    listed = admin.get(f"{sandbox.url}/data/projects/P/experiments", params={"format": "json"})
    assert [r["ID"] for r in listed.json()["ResultSet"]["Result"]] == ["TEST_PROBE1"]


def test_a_client_supplied_subject_id_is_kept(sandbox, admin) -> None:
    """`SubjectResource.handlePut`: `xnat:subjectData/ID` (pyxnat's `use_label`) or `ID`."""
    made = admin.put(
        f"{sandbox.url}/data/projects/P/subjects/alice",
        params={"xsiType": "xnat:subjectData", "xnat:subjectData/ID": "SUBJ_ALICE"},
    )
    assert (made.status_code, made.text) == (201, "SUBJ_ALICE")
    by_id = admin.get(
        f"{sandbox.url}/data/projects/P/subjects/SUBJ_ALICE", params={"format": "json"}
    )
    assert by_id.json()["items"][0]["data_fields"]["label"] == "alice"


def test_a_chosen_id_equal_to_the_next_generated_one_blocks_nothing(sandbox, admin) -> None:
    """The generator steps over an ID a client took (`IDGenerator.generateIdentifier`)."""
    assert _put_session(admin, sandbox.url, "s1", "a", ID="XNAT_E00002").text == "XNAT_E00002"
    generated = [_put_session(admin, sandbox.url, "s1", label).text for label in ("b", "c")]
    assert generated == ["XNAT_E00003", "XNAT_E00004"]
    # an assessor's chosen ID is claimed the same way
    xml = roi_collection_xml("XNAT_E00002", "XNAT_S00001", "seg", with_id="XNAT_E00005")
    made = admin.put(f"{sandbox.url}/data/experiments/XNAT_E00002/assessors/seg", data=xml)
    assert (made.status_code, made.text) == (201, "XNAT_E00005")
    assert _put_session(admin, sandbox.url, "s1", "d").text == "XNAT_E00006"


def test_a_deleted_objects_id_is_never_generated_again(sandbox, admin) -> None:
    """XNAT counts IDs in its `*_history` tables too: a deleted experiment keeps its ID."""
    first = _put_session(admin, sandbox.url, "s1", "a").text
    assert admin.delete(f"{sandbox.url}/data/experiments/{first}").ok
    assert _put_session(admin, sandbox.url, "s1", "b").text != first


def test_an_id_of_another_project_is_not_taken_over(sandbox, admin) -> None:
    """`SubjAssessmentResource`: the existing experiment with that ID belongs elsewhere."""
    assert admin.put(f"{sandbox.url}/data/projects/Q").ok
    assert _put_session(admin, sandbox.url, "s1", "a", ID="SHARED_ID").status_code == 201
    other = admin.put(
        f"{sandbox.url}/data/projects/Q/subjects/q1/experiments/b",
        params={"xsiType": "xnat:mrSessionData", "ID": "SHARED_ID"},
    )
    assert (other.status_code, other.text) == (
        409,
        "Project must be modified through separate URI.",
    )


def test_an_id_with_characters_xnat_refuses_is_refused(sandbox, admin) -> None:
    """`XftStringUtils.isValidId` on the ID; XNAT words it "label" (`SubjAssessmentResource`)."""
    answer = _put_session(admin, sandbox.url, "s1", "a", ID="bad id")
    assert answer.status_code == 417
    assert answer.text.startswith("Invalid character in experiment label.")


def test_a_deleted_assessors_id_may_be_given_again(sandbox, admin) -> None:
    """`ExptAssessmentResource`: no live experiment has the ID, so the document's ID is kept;
    only the generator keeps away from it (what a client's replace-by-delete relies on)."""
    assert _put_session(admin, sandbox.url, "s1", "a").text == "XNAT_E00001"
    uri = f"{sandbox.url}/data/experiments/XNAT_E00001/assessors/seg"
    xml = roi_collection_xml("XNAT_E00001", "XNAT_S00001", "seg", with_id="MY_SEG")
    assert admin.put(uri, data=xml).text == "MY_SEG"
    assert admin.delete(uri).ok
    again = admin.put(uri, data=xml)
    assert (again.status_code, again.text) == (201, "MY_SEG")
