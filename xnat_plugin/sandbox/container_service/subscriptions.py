"""Event subscriptions: checking one when it is created, and launching its wrapper when a
matching event arrives on the sandbox's event bus (as XNAT's CommandActionProvider does).

Two event types: `SessionEvent` (the wrapper runs on the session) and `ImageAssessorEvent`
(the wrapper runs on the assessor, or, when its root input is a Session, on the assessor's
session: "evaluate the session after every AI segmentation"). An assessor created by a
container's output handler is stored before that container's other outputs (its files); a
launch caused by it waits until no container is finalizing into the same session, so the
chained step never sees a half-uploaded assessor.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from xnat_plugin.runner.matchers import matches
from xnat_plugin.sandbox.container_service.catalog import WrapperNotFound, WrapperRef, find_wrapper
from xnat_plugin.sandbox.container_service.launcher import Launcher, LaunchTarget
from xnat_plugin.sandbox.container_service.store import ContainerServiceStore
from xnat_plugin.sandbox.events import ImageAssessorEvent, XnatEvent

log = logging.getLogger(__name__)

ACTION_PROVIDER = "org.nrg.containers.services.CommandActionProvider"
SESSION_EVENT = "org.nrg.xnat.eventservice.events.SessionEvent"
ASSESSOR_EVENT = "org.nrg.xnat.eventservice.events.ImageAssessorEvent"
KNOWN_EVENT_TYPES = {SESSION_EVENT, ASSESSOR_EVENT}
FINALIZING = "Finalizing"
# How long a chained launch waits for the container that is writing into its session.
SETTLE_TIMEOUT_S = 600.0
SETTLE_POLL_S = 0.25
# XNAT writes a payload filter either bare or wrapped as a whole JSONPath: `$[?(...)]`.
_WRAPPED_FILTER = re.compile(r"^\s*\$\[\?\((.*)\)\]\s*$", re.DOTALL)


class SubscriptionInvalid(ValueError):
    pass


def wrapper_id_of(action_key: str) -> int:
    provider, _, wrapper = str(action_key).rpartition(":")
    if provider != ACTION_PROVIDER or not wrapper.isdigit():
        raise SubscriptionInvalid(
            f"Invalid action-key '{action_key}': expected '{ACTION_PROVIDER}:<wrapper id>'."
        )
    return int(wrapper)


def normalise_subscription(
    body: Any, store: ContainerServiceStore, login: str, project: str | None
) -> dict[str, Any]:
    """The stored form of a posted subscription; SubscriptionInvalid with the reason."""
    if not isinstance(body, dict):
        raise SubscriptionInvalid("A subscription must be a JSON object.")
    name = str(body.get("name") or "").strip()
    if not name:
        raise SubscriptionInvalid("A subscription needs a name.")
    wrapper_id = wrapper_id_of(str(body.get("action-key") or ""))
    try:
        find_wrapper(store, wrapper_id=wrapper_id)
    except WrapperNotFound as exc:
        raise SubscriptionInvalid(f"Invalid action-key: {exc}") from exc
    event_filter = dict(body.get("event-filter") or {})
    if event_filter.get("event-type") not in KNOWN_EVENT_TYPES:
        raise SubscriptionInvalid(
            f"Unknown event-type '{event_filter.get('event-type')}' (this XNAT offers "
            f"{', '.join(sorted(KNOWN_EVENT_TYPES))})."
        )
    if project is not None:
        # A project subscription only ever sees its own project.
        event_filter["project-ids"] = [project]
    payload_filter = event_filter.get("payload-filter")
    if payload_filter:
        try:
            matches(_bare_filter(str(payload_filter)), {})
        except ValueError as exc:
            raise SubscriptionInvalid(f"Invalid payload-filter: {exc}") from exc
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise SubscriptionInvalid("attributes must be a map of input name to value.")
    return {
        "name": name,
        "active": bool(body.get("active", True)),
        "action-key": f"{ACTION_PROVIDER}:{wrapper_id}",
        "attributes": {str(k): str(v) for k, v in attributes.items()},
        "act-as-event-user": bool(body.get("act-as-event-user", False)),
        "event-filter": event_filter,
        "subscriber-user-id": login,
        "valid": True,
    }


def _bare_filter(payload_filter: str) -> str:
    wrapped = _WRAPPED_FILTER.match(payload_filter)
    return wrapped.group(1) if wrapped else payload_filter


def event_payload(event: XnatEvent) -> dict[str, Any]:
    """The event's object as a payload filter sees it."""
    payload = {
        "id": event.object_id,
        "uri": event.object_uri,
        "xsiType": event.xsi_type,
        "project": event.project_id,
        "project-id": event.project_id,
    }
    if isinstance(event, ImageAssessorEvent):
        payload.update(
            {
                "label": event.label,
                "session-id": event.session_id,
                "imageSession_ID": event.session_id,
            }
        )
    return payload


def subscription_matches(subscription: dict[str, Any], event: XnatEvent) -> bool:
    if not subscription.get("active"):
        return False
    event_filter = subscription.get("event-filter") or {}
    if event_filter.get("event-type") != event.event_type:
        return False
    status = event_filter.get("status")
    if status and status != str(getattr(event.status, "value", event.status)):
        return False
    projects = event_filter.get("project-ids") or []
    if projects and event.project_id not in projects:
        return False
    payload_filter = event_filter.get("payload-filter")
    return not payload_filter or matches(_bare_filter(str(payload_filter)), event_payload(event))


class SubscriptionListener:
    """Called by the event bus for every event; launches each matching subscription."""

    def __init__(self, store: ContainerServiceStore, launcher: Launcher) -> None:
        self.store = store
        self.launcher = launcher

    def __call__(self, event: XnatEvent) -> None:
        for subscription in self.store.subscriptions():
            if not subscription_matches(subscription, event):
                continue
            if isinstance(event, ImageAssessorEvent):
                threading.Thread(
                    target=self._launch_when_settled,
                    args=(subscription, event),
                    name=f"subscription-{subscription.get('id')}",
                    daemon=True,
                ).start()
            else:
                self._launch(subscription, event)

    def _finalizing_into(self, session_id: str, project: str) -> bool:
        suffix = f"/experiments/{session_id}"
        return any(
            row.status == FINALIZING
            and (row.root_uri.rstrip("/").endswith(suffix) or f"{suffix}/" in row.root_uri)
            for row in self.store.containers(project)
        )

    def _launch_when_settled(self, subscription: dict[str, Any], event: ImageAssessorEvent) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while self._finalizing_into(event.session_id, event.project_id):
            if time.monotonic() > deadline:
                log.warning(
                    "subscription %s: session %s still finalizing after %.0f s; launching",
                    subscription["name"],
                    event.session_id,
                    SETTLE_TIMEOUT_S,
                )
                break
            time.sleep(SETTLE_POLL_S)
        try:
            self._launch(subscription, event)
        except Exception:  # a background launch must not die silently
            log.exception("subscription %s failed to launch", subscription["name"])

    @staticmethod
    def _root_value(ref: WrapperRef, event: XnatEvent) -> str:
        """The URI the wrapper's root input gets: the event's object, or for an assessor event
        and a Session-rooted wrapper, the assessor's session."""
        root: dict[str, Any] = next(iter(ref.external_inputs), {})
        if isinstance(event, ImageAssessorEvent) and root.get("type") == "Session":
            return event.session_uri
        return event.object_uri

    def _launch(self, subscription: dict[str, Any], event: XnatEvent) -> None:
        wrapper_id = wrapper_id_of(subscription["action-key"])
        try:
            ref = find_wrapper(self.store, wrapper_id=wrapper_id)
        except WrapperNotFound:
            log.warning("subscription %s names a wrapper that is gone", subscription["name"])
            return
        user = subscription["subscriber-user-id"]
        if subscription.get("act-as-event-user") and event.user:
            user = event.user
        params = {
            **subscription.get("attributes", {}),
            ref.root_input_name: self._root_value(ref, event),
        }
        report = self.launcher.launch(
            LaunchTarget(project=event.project_id, wrapper_id=wrapper_id),
            ref.root_input_name,
            params,
            user,
            subscription_id=int(subscription["id"]),
        )
        if report["status"] != "success":
            log.warning(
                "subscription %s could not launch on %s: %s",
                subscription["name"],
                event.object_uri,
                report.get("message"),
            )
