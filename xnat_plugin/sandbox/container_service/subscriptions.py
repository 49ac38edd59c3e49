"""Event subscriptions as XNAT's event service keeps them, and the launches they make as
Container Service's action provider does.

- Validation (`EventSubscriptionEntityServiceImpl.validate`): the event type must be one the
  site offers, and a payload filter must be a bare JSONPath predicate: one that starts with `$`
  or contains `$[?` is refused. `EventServiceRestApi` answers every validation failure with
  424 and "Subscription format failed to validate." before the reason.
- Matching (`EventServiceImpl.processEvent`): event type, status and project, then the payload
  filter, applied as `$[?(<filter>)]` to the event's object serialised as the event service's
  model (`model.xnat.Session`, `model.xnat.Assessor`), with single quotes turned into double
  quotes first. The object is read when the event is processed: an assessor event fires when
  the assessor's XML is stored, before any of its resources are uploaded, so its payload
  lists no resources.
- Launching (`CommandActionProvider.processEvent`): the wrapper's one external input gets the
  archive URI of the event's object (`UriParserUtils.getArchiveUri`): a session event gives
  `/archive/experiments/<session ID>`, an assessor event `/archive/experiments/<assessor ID>`
  (which only an Assessor-rooted wrapper resolves), launched at once through the launcher,
  in the subscription's project.
"""

from __future__ import annotations

import logging
from typing import Any

from xnat_plugin.runner.matchers import matches
from xnat_plugin.sandbox.container_service.catalog import WrapperNotFound, find_wrapper
from xnat_plugin.sandbox.container_service.launcher import Launcher, LaunchTarget
from xnat_plugin.sandbox.container_service.store import ContainerServiceStore
from xnat_plugin.sandbox.events import ImageAssessorEvent, XnatEvent

log = logging.getLogger(__name__)

ACTION_PROVIDER = "org.nrg.containers.services.CommandActionProvider"
SESSION_EVENT = "org.nrg.xnat.eventservice.events.SessionEvent"
ASSESSOR_EVENT = "org.nrg.xnat.eventservice.events.ImageAssessorEvent"
KNOWN_EVENT_TYPES = {SESSION_EVENT, ASSESSOR_EVENT}
VALIDATION_FAILED = "Subscription format failed to validate.\n"
BARE_FILTER_REQUIRED = (
    'Could not compile jsonPath filter. "Payload JsonPath filter contains $ or $[?. Filter '
    'string should include only predicate path."'
)


class SubscriptionInvalid(ValueError):
    """A subscription XNAT refuses (424, "Subscription format failed to validate.")."""


def wrapper_id_of(action_key: str) -> int:
    provider, _, wrapper = str(action_key).rpartition(":")
    if provider != ACTION_PROVIDER or not wrapper.isdigit():
        raise SubscriptionInvalid(f"Could not load Action Provider for key:{action_key}")
    return int(wrapper)


def check_payload_filter(payload_filter: str) -> None:
    """`validate`: only a bare predicate compiles into the event service's `$[?(...)]`."""
    if payload_filter.startswith("$") or "$[?" in payload_filter:
        raise SubscriptionInvalid(BARE_FILTER_REQUIRED)
    try:
        matches(_as_used(payload_filter), {})
    except ValueError as exc:
        raise SubscriptionInvalid(f"Could not compile jsonPath filter. {exc}") from exc


def _as_used(payload_filter: str) -> str:
    # EventServiceImpl replaces every single quote with a double quote before filtering.
    return payload_filter.replace("'", '"')


def normalise_subscription(
    body: Any, store: ContainerServiceStore, login: str, project: str | None
) -> dict[str, Any]:
    """The stored form of a posted subscription; SubscriptionInvalid with XNAT's reason."""
    if not isinstance(body, dict):
        raise SubscriptionInvalid("A subscription must be a JSON object.")
    name = str(body.get("name") or "").strip()
    if not name:
        raise SubscriptionInvalid("A subscription needs a name.")
    event_filter = dict(body.get("event-filter") or {})
    event_type = event_filter.get("event-type")
    if event_type not in KNOWN_EVENT_TYPES:
        raise SubscriptionInvalid(f"Could not load Event class: {event_type}")
    payload_filter = event_filter.get("payload-filter")
    if payload_filter:
        check_payload_filter(str(payload_filter))
    wrapper_id = wrapper_id_of(str(body.get("action-key") or ""))
    try:
        find_wrapper(store, wrapper_id=wrapper_id)
    except WrapperNotFound as exc:
        raise SubscriptionInvalid(
            f"Could not validate Action: {body.get('action-key')}\n{exc}"
        ) from exc
    if project is not None:
        # A project subscription only ever sees its own project.
        event_filter["project-ids"] = [project]
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


def event_payload(event: XnatEvent) -> dict[str, Any]:
    """The event's object as the event service serialises it for a payload filter."""
    payload: dict[str, Any] = {
        "id": event.object_id,
        "label": event.label,
        "xsiType": event.xsi_type,
        "uri": event.model_uri,
        "project-id": event.project_id,
        "resources": [],
    }
    if isinstance(event, ImageAssessorEvent):
        payload["session-id"] = event.session_id
    else:
        payload.update({"scans": [], "assessors": []})
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
    return not payload_filter or matches(_as_used(str(payload_filter)), event_payload(event))


class SubscriptionListener:
    """Called by the event bus for every event; launches each matching subscription."""

    def __init__(self, store: ContainerServiceStore, launcher: Launcher) -> None:
        self.store = store
        self.launcher = launcher

    def __call__(self, event: XnatEvent) -> None:
        for subscription in self.store.subscriptions():
            if subscription_matches(subscription, event):
                self._launch(subscription, event)

    def _launch(self, subscription: dict[str, Any], event: XnatEvent) -> None:
        wrapper_id = wrapper_id_of(subscription["action-key"])
        try:
            ref = find_wrapper(self.store, wrapper_id=wrapper_id)
        except WrapperNotFound:
            log.warning("subscription %s names a wrapper that is gone", subscription["name"])
            return
        root = ref.root_input_name
        if not root:
            log.warning(
                "subscription %s: wrapper %s has no external input", subscription["name"], ref.name
            )
            return
        user = subscription["subscriber-user-id"]
        if subscription.get("act-as-event-user") and event.user:
            user = event.user
        projects = (subscription.get("event-filter") or {}).get("project-ids") or []
        project = projects[0] if len(projects) == 1 else (event.project_id if projects else None)
        params = {**subscription.get("attributes", {}), root: event.archive_uri}
        report = self.launcher.launch(
            LaunchTarget(project=project, wrapper_id=wrapper_id),
            root,
            params,
            user,
            subscription_id=int(subscription["id"]),
        )
        if report["status"] != "success":
            log.warning(
                "subscription %s could not launch on %s: %s",
                subscription["name"],
                event.archive_uri,
                report.get("message"),
            )
