"""An in-process event bus: data routes publish, the container service's subscriptions listen.

Mirrors the part of XNAT's event service the product uses (`EventServiceItemSaveAspect`):
`SessionEvent` CREATED when an image session is archived (with its scans, when it came through
the import service), and `ImageAssessorEvent` CREATED when a new assessor's XML is stored on a
session, before any resource of it is uploaded (an update of the assessor fires nothing).
Callbacks run in the publishing thread; one that raises is logged and does not stop the others
or the request that published.

Two URIs per event: `model_uri` is the `uri` of the event service's model of the object (what
a payload filter sees: `/archive/experiments/<ID>` for a session,
`/experiments/<session>/assessors/<ID>` for an assessor, as `model.xnat.Assessor` builds it),
and `archive_uri` what `UriParserUtils.getArchiveUri` gives Container Service's action
provider as the launch's root value: `/archive/experiments/<ID>` for both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

log = logging.getLogger(__name__)


class EventStatus(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


@dataclass(frozen=True, kw_only=True)
class XnatEvent:
    """Anything that happened to an XNAT object."""

    event_type: str
    status: EventStatus
    project_id: str
    object_id: str
    object_uri: str
    xsi_type: str
    label: str = ""
    user: str = ""
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def model_uri(self) -> str:
        return self.object_uri

    @property
    def archive_uri(self) -> str:
        return f"/archive/experiments/{self.object_id}"


@dataclass(frozen=True, kw_only=True)
class SessionEvent(XnatEvent):
    """An image session was created; `object_uri` is `/archive/experiments/<ID>`."""

    event_type: str = "org.nrg.xnat.eventservice.events.SessionEvent"

    @property
    def session_id(self) -> str:
        return self.object_id

    @property
    def session_uri(self) -> str:
        return self.object_uri


@dataclass(frozen=True, kw_only=True)
class ImageAssessorEvent(XnatEvent):
    """An image assessor was stored; `object_uri` is `/experiments/<session>/assessors/<ID>`."""

    event_type: str = "org.nrg.xnat.eventservice.events.ImageAssessorEvent"
    session_id: str

    @property
    def session_uri(self) -> str:
        return f"/experiments/{self.session_id}"


EventCallback = Callable[[XnatEvent], None]

_subscribers: list[EventCallback] = []
_lock = threading.Lock()


def subscribe(callback: EventCallback) -> None:
    with _lock:
        if callback not in _subscribers:
            _subscribers.append(callback)


def unsubscribe(callback: EventCallback) -> None:
    with _lock:
        if callback in _subscribers:
            _subscribers.remove(callback)


def publish(event: XnatEvent) -> None:
    with _lock:
        callbacks = list(_subscribers)
    for callback in callbacks:
        try:
            callback(event)
        except Exception:
            log.exception("event subscriber %r failed on %s", callback, event.event_type)


def session_created(
    project_id: str, session_id: str, xsi_type: str, user: str = "", label: str = ""
) -> SessionEvent:
    """The event published when an image session is created."""
    return SessionEvent(
        status=EventStatus.CREATED,
        project_id=project_id,
        object_id=session_id,
        object_uri=f"/archive/experiments/{session_id}",
        xsi_type=xsi_type,
        label=label,
        user=user,
    )


def assessor_created(
    project_id: str, session_id: str, assessor_id: str, label: str, xsi_type: str, user: str = ""
) -> ImageAssessorEvent:
    """The event published when an image assessor is created on a session."""
    return ImageAssessorEvent(
        status=EventStatus.CREATED,
        project_id=project_id,
        object_id=assessor_id,
        object_uri=f"/experiments/{session_id}/assessors/{assessor_id}",
        xsi_type=xsi_type,
        user=user,
        label=label,
        session_id=session_id,
    )
