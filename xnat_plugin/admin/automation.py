"""`xnat-monai automate`: an XNAT event-service subscription that launches a wrapper on every
session created in a project (XNAT 1.8+), made once: a second call finds the first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from xnat_plugin.admin.launching import parse_inputs
from xnat_plugin.admin.wrappers import ensure_enabled_on_project, find_wrapper
from xnat_plugin.admin.xapi import Xapi

log = logging.getLogger(__name__)

SESSION_EVENT = "org.nrg.xnat.eventservice.events.SessionEvent"
ACTION_PROVIDER = "org.nrg.containers.services.CommandActionProvider"
EVENTS = {"session-created": (SESSION_EVENT, "CREATED")}


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
    event_type, status = EVENTS[on]
    return {
        "name": name,
        "active": True,
        "action-key": f"{ACTION_PROVIDER}:{wrapper_id}",
        "attributes": inputs,
        "act-as-event-user": False,
        "event-filter": {"event-type": event_type, "project-ids": [project], "status": status},
    }


def subscribe_on_session_created(
    xapi: Xapi,
    project: str,
    wrapper_name: str,
    inputs: list[str] | dict[str, str] | None = None,
    *,
    on: str = "session-created",
) -> SubscriptionInfo:
    """Subscribe `wrapper_name` to new sessions of `project` (or return the one that exists)."""
    wrapper = find_wrapper(xapi, wrapper_name)
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
    log.info("subscribed %s to new sessions of %s (subscription %d)", wrapper_name, project, sub_id)
    return SubscriptionInfo(sub_id, name, created=True)
