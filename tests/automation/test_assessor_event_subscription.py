"""Chaining on assessors: an ImageAssessorEvent subscription with a payload filter launches its
Session-rooted wrapper on the assessor's session for AI segmentations, and only for them."""

from __future__ import annotations

import time
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
from tests.sandbox.xml_documents import roi_collection_xml
from xnat_plugin.admin import list_containers, subscribe_on_ai_segmentation_created, wait_for
from xnat_plugin.admin.automation import AI_SEGMENTATION_FILTER, ASSESSOR_EVENT
from xnat_plugin.sandbox import events
from xnat_plugin.sandbox.container_service.subscriptions import (
    event_payload,
    subscription_matches,
)

ROI = "icr:roiCollectionData"


def _subscription(payload_filter: str) -> dict[str, Any]:
    return {
        "active": True,
        "event-filter": {
            "event-type": ASSESSOR_EVENT,
            "project-ids": ["LIVER"],
            "status": "CREATED",
            "payload-filter": payload_filter,
        },
    }


def _assessor_event(label: str, xsi_type: str = ROI, project: str = "LIVER") -> Any:
    return events.assessor_created(project, "XNAT_E00001", "XNAT_E00009", label, xsi_type)


def test_the_assessor_payload_carries_type_label_ids_and_session() -> None:
    payload = event_payload(_assessor_event("S1_CT1_monai_abdomen_20260101120000"))
    assert payload["xsiType"] == ROI
    assert payload["label"] == "S1_CT1_monai_abdomen_20260101120000"
    assert payload["id"] == "XNAT_E00009"
    assert payload["project"] == "LIVER"
    assert payload["session-id"] == "XNAT_E00001"


def test_the_ai_segmentation_filter_matches_ai_labels_only() -> None:
    subscription = _subscription(AI_SEGMENTATION_FILTER)
    assert subscription_matches(subscription, _assessor_event("S1_CT1_monai_m_20260101120000"))
    assert not subscription_matches(subscription, _assessor_event("S1_CT1_manual_SEG"))
    assert not subscription_matches(
        subscription, _assessor_event("S1_CT1_monai_eval_20260101", "xnat:qcAssessmentData")
    )
    assert not subscription_matches(
        subscription, _assessor_event("S1_CT1_monai_m_1", project="OTHER")
    )
    session_event = events.session_created("LIVER", "XNAT_E00001", "xnat:ctSessionData")
    assert not subscription_matches(subscription, session_event)


def _put_assessor(server: Any, session_id: str, label: str, xsi_type: str) -> None:
    # An ROI collection needs its UID, type and subject (required in roi.xsd; XNAT's
    # `assessor.validate()` refuses one made from `?xsiType=` alone): send the document.
    body = (
        roi_collection_xml(session_id, "XNAT_S00001", label).encode() if xsi_type == ROI else None
    )
    with rest(server) as http:
        answer = http.put(
            f"{server.url}/data/experiments/{session_id}/assessors/{label}",
            params={} if body else {"xsiType": xsi_type},
            data=body,
            timeout=30,
        )
    assert answer.status_code == 201, answer.text


def test_an_ai_segmentation_launches_the_wrapper_on_its_session_and_others_do_not(
    sandbox: Any, tmp_path: Path
) -> None:
    make_project(sandbox, "LIVER")
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    info = subscribe_on_ai_segmentation_created(xapi, "LIVER", TINY_WRAPPER)
    stored = xapi.get_json(f"/xapi/events/subscription/{info.id}", what="read")
    assert stored["event-filter"]["event-type"] == ASSESSOR_EVENT
    assert stored["event-filter"]["payload-filter"] == AI_SEGMENTATION_FILTER

    session_id = add_ct_session(sandbox, "LIVER", 1)
    _put_assessor(sandbox, session_id, "SUBJ001_CT1_manual_SEG", ROI)
    _put_assessor(sandbox, session_id, "SUBJ001_CT1_monai_eval_1", "xnat:qcAssessmentData")
    time.sleep(2)  # a wrong launch would show up by now
    assert list_containers(xapi) == []

    _put_assessor(sandbox, session_id, "SUBJ001_CT1_monai_abdomen_20260101120000", ROI)
    containers = wait_until(lambda: list_containers(xapi), timeout=30)
    [done] = wait_for(xapi, [c.id for c in containers], timeout=120, show_progress=False)
    record = xapi.get_json(f"/xapi/containers/{done.id}", what="read")
    xapi.close()
    assert len(containers) == 1
    assert done.status == "Complete"
    assert done.target.endswith(f"/experiments/{session_id}")
    assert record["subscription-id"] == info.id


def test_automate_on_ai_segmentation_created_subscribes_once_from_the_command_line(
    sandbox: Any, tmp_path: Path, capsys: Any
) -> None:
    from xnat_plugin.cli import main

    make_project(sandbox, "LIVER")
    installed_admin(sandbox, tmp_path, ["LIVER"]).close()
    argv = [
        "automate", "--xnat", sandbox.url, "--user", "admin", "--password", "admin",
        "--project", "LIVER", "--wrapper", TINY_WRAPPER, "--on", "ai-segmentation-created",
    ]  # fmt: skip
    assert main(argv) == 0
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "subscription created" in out and "already exists" in out
    with rest(sandbox) as http:
        listed = http.get(f"{sandbox.url}/xapi/events/subscriptions", timeout=30).json()
    assert [s["event-filter"]["event-type"] for s in listed] == [ASSESSOR_EVENT]
    assert "ai-segmentation-created" in listed[0]["name"]
