"""`xnat-monai automate`: an XNAT event-service subscription (XNAT 1.8+) that launches a
wrapper on its own, made once: a second call finds the first.

- `session-created`: on every session archived in the project (`SessionEvent` CREATED); the
  wrapper is rooted at a Session.
- `ai-segmentation-created`: on every AI segmentation stored in the project
  (`ImageAssessorEvent` CREATED, payload filter: an `icr:roiCollectionData` whose label has
  `_monai_`), which chains evaluate after infer. XNAT launches it with the assessor's own URI
  (`/archive/experiments/<assessor ID>`, `CommandActionProvider`) as soon as the assessor's
  XML is stored, before its SEG is uploaded: the wrapper must be rooted at an Assessor
  (`monai-evaluate-ai-segmentation`, which finds its session and waits for the SEG). The
  event service takes a bare JSONPath predicate only (`EventSubscriptionEntityServiceImpl
  .validate` refuses a filter that starts with `$` or holds `$[?`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from xnat_plugin.admin.launching import parse_inputs
from xnat_plugin.admin.wrappers import ensure_enabled_on_project, find_wrapper
from xnat_plugin.admin.xapi import Xapi
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

SESSION_EVENT = "org.nrg.xnat.eventservice.events.SessionEvent"
ASSESSOR_EVENT = "org.nrg.xnat.eventservice.events.ImageAssessorEvent"
ACTION_PROVIDER = "org.nrg.containers.services.CommandActionProvider"
# Infer labels its assessors `<session>_monai_<model>_<time>` (the contracts' AI pattern).
AI_SEGMENTATION_FILTER = "@.xsiType == 'icr:roiCollectionData' && @.label =~ /.*_monai_.*/"


@dataclass(frozen=True)
class Trigger:
    """What an `--on` choice subscribes to, and the root type its wrapper needs."""

    event_type: str
    status: str
    root_type: str
    payload_filter: str | None = None


EVENTS = {
    "session-created": Trigger(SESSION_EVENT, "CREATED", "Session"),
    "ai-segmentation-created": Trigger(
        ASSESSOR_EVENT, "CREATED", "Assessor", AI_SEGMENTATION_FILTER
    ),
}


@dataclass(frozen=True)
class SubscriptionInfo:
    id: int
    name: str
    created: bool


def subscription_name(project: str, wrapper_name: str, on: str) -> str:
    return f"xnat-monai {wrapper_name} on {on} in {project}"


def subscription_body(
    name: str, project: str, wrapper_id: int, inputs: dict[str, str], on: str
) -> dict[str, Any]:
    trigger = EVENTS[on]
    event_filter: dict[str, Any] = {
        "event-type": trigger.event_type,
        "project-ids": [project],
        "status": trigger.status,
    }
    if trigger.payload_filter:
        event_filter["payload-filter"] = trigger.payload_filter
    return {
        "name": name,
        "active": True,
        "action-key": f"{ACTION_PROVIDER}:{wrapper_id}",
        "attributes": inputs,
        "act-as-event-user": False,
        "event-filter": event_filter,
    }


def subscribe_on_session_created(
    xapi: Xapi,
    project: str,
    wrapper_name: str,
    inputs: list[str] | dict[str, str] | None = None,
    *,
    on: str = "session-created",
) -> SubscriptionInfo:
    """Subscribe `wrapper_name` to new sessions of `project`, or with
    `on="ai-segmentation-created"` to every new AI segmentation (or return the subscription
    that exists). UserError when the wrapper's root cannot take what the event gives."""
    if on not in EVENTS:
        raise UserError(f"--on {on}: choose one of {', '.join(EVENTS)}")
    wrapper = find_wrapper(xapi, wrapper_name)
    trigger = EVENTS[on]
    if wrapper.root_type != trigger.root_type:
        raise UserError(
            f"--on {on} launches with the URI of the new {trigger.root_type.lower()}, which "
            f"wrapper '{wrapper_name}' (rooted at a {wrapper.root_type or 'value'}) cannot "
            f"resolve: choose a wrapper rooted at a {trigger.root_type}"
            + (" (monai-evaluate-ai-segmentation)" if trigger.root_type == "Assessor" else "")
        )
    ensure_enabled_on_project(xapi, wrapper, project)
    name = subscription_name(project, wrapper_name, on)
    existing = xapi.get_json(
        f"/xapi/projects/{project}/events/subscriptions", what="list event subscriptions"
    )
    for sub in existing:
        if sub.get("name") == name:
            log.info("subscription '%s' exists already (id %s)", name, sub.get("id"))
            return SubscriptionInfo(int(sub["id"]), name, created=False)
    body = subscription_body(name, project, wrapper.wrapper_id, parse_inputs(inputs), on)
    response = xapi.post_json(
        f"/xapi/projects/{project}/events/subscription", body, what="create an event subscription"
    )
    # XNAT answers 201 with "<name>:<id>".
    sub_id = int(response.text.strip().rsplit(":", 1)[-1])
    log.info("subscribed %s to %s in %s (subscription %d)", wrapper_name, on, project, sub_id)
    return SubscriptionInfo(sub_id, name, created=True)


def subscribe_on_ai_segmentation_created(
    xapi: Xapi, project: str, wrapper_name: str, inputs: list[str] | dict[str, str] | None = None
) -> SubscriptionInfo:
    """Launch `wrapper_name` (rooted at an assessor) on every AI segmentation stored in
    `project`: the AI-segmentation evaluation after each infer."""
    return subscribe_on_session_created(
        xapi, project, wrapper_name, inputs, on="ai-segmentation-created"
    )
