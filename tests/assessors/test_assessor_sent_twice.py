"""A document sent twice (a retried upload, a re-finalized container) leaves one assessor.

XNAT creates or updates an experiment by its `ID` (`DefaultCatalogService.insertXmlObject`,
the experiment PUT routes: an existing ID is an update); the builders derive the ID from the
session ID and the label, so the second upload finds the first assessor and updates it.
"""

from __future__ import annotations

import requests

from xnat_plugin.assessors.assessor_id import assessor_id
from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.runner.xnat_rest import XnatRest
from xnat_plugin.sandbox.server import SandboxServer

SESSION = "/data/projects/P/subjects/s1/experiments/s1_CT"


def _session_id(sandbox: SandboxServer) -> str:
    http = requests.Session()
    http.auth = (sandbox.user, sandbox.password)
    http.put(f"{sandbox.url}/data/projects/P").raise_for_status()
    http.put(f"{sandbox.url}/data/projects/P/subjects/s1").raise_for_status()
    answer = http.put(f"{sandbox.url}{SESSION}", params={"xsiType": "xnat:ctSessionData"})
    answer.raise_for_status()
    return answer.text.strip()


def _segmentation(session_id: str, uid: str) -> RoiCollection:
    return RoiCollection(
        label="s1_CT_monai_spleen_20260101120000",
        project="P",
        session_id=session_id,
        subject_id="XNAT_S00001",
        uid=uid,
    )


def test_the_same_assessor_uploaded_twice_is_one_assessor_updated(sandbox: SandboxServer) -> None:
    session_id = _session_id(sandbox)
    xnat = XnatRest(sandbox.url, sandbox.user, sandbox.password)
    first = _segmentation(session_id, "1.2.3.4")
    again = _segmentation(session_id, "1.2.3.5")
    session_uri = f"/archive/experiments/{session_id}"

    assert xnat.put_assessor_xml(session_uri, first.label, first.to_xml().encode()) == first.id
    assert xnat.put_assessor_xml(session_uri, again.label, again.to_xml().encode()) == first.id

    rows = xnat.get_json(f"/data/experiments/{session_id}/assessors")["ResultSet"]["Result"]
    assert [(row["ID"], row["label"]) for row in rows] == [(first.id, first.label)]
    assert first.id == assessor_id(session_id, "P", first.label)
    stored = xnat.get(f"/data/experiments/{first.id}", {"format": "xml"}).text
    assert RoiCollection.from_xml(stored).uid == "1.2.3.5"
