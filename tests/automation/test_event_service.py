"""The event service as XNAT 1.9 runs it, and automation on top of it.

- `EventSubscriptionEntityServiceImpl.validate` refuses a payload filter that starts with `$`
  or contains `$[?`; `EventServiceRestApi` answers 424 "Subscription format failed to
  validate." with the reason.
- `EventServiceItemSaveAspect` fires `ImageAssessorEvent` CREATED when a new assessor's XML is
  stored, before any resource of it exists, and never again when it is updated; the payload a
  filter sees is `model.xnat.Assessor` (id, label, xsiType, uri, project-id, session-id,
  resources).
- `CommandActionProvider.processEvent` launches with the assessor's archive URI
  (`/archive/experiments/<assessor ID>`): a Session-rooted wrapper cannot resolve it and its
  workflow fails in command resolution; an Assessor-rooted one runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.container_service.sandbox_data import (
    ASSESSOR_WRAPPER,
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
from xnat_plugin.admin.workflows import workflows_on
from xnat_plugin.admin.wrappers import find_wrapper
from xnat_plugin.errors import UserError
from xnat_plugin.sandbox import events
from xnat_plugin.sandbox.container_service.subscriptions import (
    ACTION_PROVIDER,
    event_payload,
    subscription_matches,
)

ROI = "icr:roiCollectionData"
AI_LABEL = "SUBJ001_CT1_monai_abdomen_20260101120000"


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


def _post_subscription(server: Any, wrapper_id: int, payload_filter: str | None) -> Any:
    event_filter: dict[str, Any] = {"event-type": ASSESSOR_EVENT, "status": "CREATED"}
    if payload_filter is not None:
        event_filter["payload-filter"] = payload_filter
    with rest(server) as http:
        return http.post(
            f"{server.url}/xapi/projects/LIVER/events/subscription",
            json={
                "name": f"probe {time.monotonic()}",
                "active": True,
                "action-key": f"{ACTION_PROVIDER}:{wrapper_id}",
                "event-filter": event_filter,
            },
            timeout=30,
        )


def _put_assessor(server: Any, session_id: str, label: str, xsi_type: str = ROI) -> str:
    """Store an assessor as a client does; an ROI collection as its XML document (roi.xsd
    requires its UID, type and subject). Returns its ID."""
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
        assert answer.status_code in (200, 201), answer.text
        found = http.get(
            f"{server.url}/data/experiments/{session_id}/assessors/{label}",
            params={"format": "json"},
            timeout=30,
        )
    return str(found.json()["items"][0]["data_fields"]["ID"])


@pytest.mark.parametrize(
    "payload_filter",
    [f"$[?({AI_SEGMENTATION_FILTER})]", "$.xsiType", "@.label == 'a' && $[?(@.x)]"],
)
def test_a_filter_that_is_not_a_bare_predicate_is_refused_with_424(
    sandbox: Any, tmp_path: Path, payload_filter: str
) -> None:
    make_project(sandbox, "LIVER")
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    wrapper = find_wrapper(xapi, ASSESSOR_WRAPPER)
    xapi.close()
    answer = _post_subscription(sandbox, wrapper.wrapper_id, payload_filter)
    assert answer.status_code == 424
    assert answer.text == (
        "Subscription format failed to validate.\n"
        'Could not compile jsonPath filter. "Payload JsonPath filter contains $ or $[?. '
        'Filter string should include only predicate path."'
    )


def test_the_ai_segmentation_filter_is_a_bare_predicate_on_the_assessor_model() -> None:
    payload = event_payload(_assessor_event(AI_LABEL))
    assert payload == {
        "id": "XNAT_E00009",
        "label": AI_LABEL,
        "xsiType": ROI,
        "uri": "/experiments/XNAT_E00001/assessors/XNAT_E00009",
        "project-id": "LIVER",
        "session-id": "XNAT_E00001",
        "resources": [],
    }
    assert not AI_SEGMENTATION_FILTER.startswith("$") and "$[?" not in AI_SEGMENTATION_FILTER
    subscription = _subscription(AI_SEGMENTATION_FILTER)
    assert subscription_matches(subscription, _assessor_event(AI_LABEL))
    assert not subscription_matches(subscription, _assessor_event("S1_CT1_manual_SEG"))
    assert not subscription_matches(
        subscription, _assessor_event("S1_CT1_monai_eval_20260101", "xnat:qcAssessmentData")
    )
    assert not subscription_matches(subscription, _assessor_event(AI_LABEL, project="OTHER"))


def test_the_assessor_event_fires_when_its_xml_is_stored_before_any_resource(
    sandbox: Any,
) -> None:
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    seen: list[events.XnatEvent] = []
    events.subscribe(seen.append)
    try:
        assessor_id = _put_assessor(sandbox, session_id, AI_LABEL)
        at_insert = [e for e in seen if isinstance(e, events.ImageAssessorEvent)]
        base = f"{sandbox.url}/data/experiments/{session_id}/assessors/{assessor_id}"
        with rest(sandbox) as http:
            http.put(f"{base}/resources/SEG", timeout=30).raise_for_status()
            http.put(f"{base}/resources/SEG/files/seg.dcm", data=b"x", timeout=30)
        _put_assessor(sandbox, session_id, AI_LABEL)  # an update fires nothing
    finally:
        events.unsubscribe(seen.append)
    after = [e for e in seen if isinstance(e, events.ImageAssessorEvent)]
    assert len(at_insert) == 1 and after == at_insert
    [event] = at_insert
    assert event.archive_uri == f"/archive/experiments/{assessor_id}"
    assert event_payload(event)["resources"] == []


def test_a_session_rooted_wrapper_fails_in_resolution_on_the_assessor_uri(
    sandbox: Any, tmp_path: Path
) -> None:
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    wrapper = find_wrapper(xapi, TINY_WRAPPER)
    made = _post_subscription(sandbox, wrapper.wrapper_id, AI_SEGMENTATION_FILTER)
    assert made.status_code == 201, made.text
    assessor_id = _put_assessor(sandbox, session_id, AI_LABEL)
    [workflow] = wait_until(
        lambda: [
            w for w in workflows_on(xapi, TINY_WRAPPER, assessor_id) if w.status.startswith("F")
        ],
        timeout=30,
    )
    containers = list_containers(xapi)
    xapi.close()
    assert workflow.status == "Failed (Command resolution)"
    assert workflow.details.startswith(
        "Submitted data does not match command resolution requirements. "
    )
    assert containers == []


def test_an_assessor_rooted_wrapper_runs_on_each_ai_segmentation_and_nothing_else(
    sandbox: Any, tmp_path: Path
) -> None:
    make_project(sandbox, "LIVER")
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    info = subscribe_on_ai_segmentation_created(xapi, "LIVER", ASSESSOR_WRAPPER)
    stored = xapi.get_json(f"/xapi/events/subscription/{info.id}", what="read")
    assert stored["event-filter"]["payload-filter"] == AI_SEGMENTATION_FILTER

    session_id = add_ct_session(sandbox, "LIVER", 1)
    _put_assessor(sandbox, session_id, "SUBJ001_CT1_manual_SEG")
    _put_assessor(sandbox, session_id, "SUBJ001_CT1_monai_eval_1", "xnat:qcAssessmentData")
    time.sleep(2)  # a wrong launch would show up by now
    assert list_containers(xapi) == []

    assessor_id = _put_assessor(sandbox, session_id, AI_LABEL)
    containers = wait_until(lambda: list_containers(xapi), timeout=30)
    [done] = wait_for(xapi, [c.id for c in containers], timeout=120, show_progress=False)
    xapi.close()
    assert len(containers) == 1
    assert done.status == "Complete"
    assert done.target.endswith(f"/{assessor_id}")


def test_automate_refuses_a_session_rooted_wrapper_for_ai_segmentations(
    sandbox: Any, tmp_path: Path
) -> None:
    make_project(sandbox, "LIVER")
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    with pytest.raises(UserError, match="rooted at a Session.*choose a wrapper rooted at an? "):
        subscribe_on_ai_segmentation_created(xapi, "LIVER", TINY_WRAPPER)
    listed = xapi.get_json("/xapi/events/subscriptions", what="list")
    xapi.close()
    assert listed == []


def test_automate_on_ai_segmentation_created_subscribes_once_from_the_command_line(
    sandbox: Any, tmp_path: Path, capsys: Any
) -> None:
    from xnat_plugin.cli import main

    make_project(sandbox, "LIVER")
    installed_admin(sandbox, tmp_path, ["LIVER"]).close()
    argv = [
        "automate", "--xnat", sandbox.url, "--user", "admin", "--password", "admin",
        "--project", "LIVER", "--wrapper", ASSESSOR_WRAPPER, "--on", "ai-segmentation-created",
    ]  # fmt: skip
    assert main(argv) == 0
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "subscription created" in out and "already exists" in out
    with rest(sandbox) as http:
        listed = http.get(f"{sandbox.url}/xapi/events/subscriptions", timeout=30).json()
    assert [s["event-filter"]["event-type"] for s in listed] == [ASSESSOR_EVENT]
    assert "ai-segmentation-created" in listed[0]["name"]
