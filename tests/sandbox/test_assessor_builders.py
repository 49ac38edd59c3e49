"""Documents built by `xnat_plugin.assessors` are accepted by the sandbox as they are."""

from __future__ import annotations

import datetime as dt

import requests

from xnat_plugin.assessors.qc_assessment import QcAssessment, ScanStatistics
from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.sandbox.server import SandboxServer

SESSION = "/data/projects/P/subjects/s1/experiments/s1_CT"


def _session(sandbox: SandboxServer) -> requests.Session:
    http = requests.Session()
    http.auth = (sandbox.user, sandbox.password)
    http.put(f"{sandbox.url}/data/projects/P")
    http.put(f"{sandbox.url}/data/projects/P/subjects/s1")
    http.put(f"{sandbox.url}{SESSION}", params={"xsiType": "xnat:ctSessionData"})
    return http


def test_roi_collection_and_qc_assessment_documents_are_stored(sandbox: SandboxServer) -> None:
    http = _session(sandbox)
    seg = RoiCollection(
        label="s1_CT_monai_spleen_20260101120000",
        project="P",
        session_id="XNAT_E00001",
        date=dt.date(2026, 1, 1),
        uid="1.2.3.4",
        subject_id="XNAT_S00001",
        series_uids=["1.2.3"],
        name="spleen",
        fields={"model": "spleen"},
    )
    answer = http.put(f"{sandbox.url}{SESSION}/assessors/{seg.label}", data=seg.to_xml().encode())
    assert answer.status_code == 201, answer.text
    stored = RoiCollection.from_xml(
        http.get(f"{sandbox.url}/data/experiments/{answer.text}", params={"format": "xml"}).content
    )
    assert stored.id == answer.text
    assert (stored.uid, stored.series_uids, stored.fields) == (
        "1.2.3.4",
        ["1.2.3"],
        {"model": "spleen"},
    )

    qc = QcAssessment(
        label="s1_CT_monai_eval_20260101120000",
        project="P",
        session_id="XNAT_E00001",
        scans=[
            ScanStatistics(
                scan_id="1",
                statistics={"dice_liver": 0.93},
                text_fields={"reference": "s1_CT_manual_SEG"},
            )
        ],
        qc_type="monai",
    )
    answer = http.put(f"{sandbox.url}{SESSION}/assessors/{qc.label}", data=qc.to_xml().encode())
    assert answer.status_code == 201, answer.text
    back = QcAssessment.from_xml(
        http.get(f"{sandbox.url}/data/experiments/{answer.text}", params={"format": "xml"}).content
    )
    assert back.scans[0].statistics == {"dice_liver": 0.93}
    assert back.scans[0].text_fields == {"reference": "s1_CT_manual_SEG"}
