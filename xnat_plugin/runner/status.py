"""A container's status as Container Service 3.7.3 reports it, and the one way to change it.

The happy path is `_Queued` → `Staging` → `Created` → `Running` → `Finalizing` → `Complete`;
any stage before `Complete` can end in one of the failure statuses instead. Final statuses
never change again, so a late report (a kill after the process already exited) is ignored.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger(__name__)


class ContainerStatus(enum.StrEnum):
    """The status strings XNAT shows in its container history table."""

    QUEUED = "_Queued"
    STAGING = "Staging"
    CREATED = "Created"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    COMPLETE = "Complete"
    FAILED_RESOLUTION = "Failed (Command resolution)"
    FAILED_LAUNCH = "Failed (Container launch)"
    FAILED_UPLOAD = "Failed (Upload)"
    FAILED = "Failed"
    KILLED_OOM = "Killed (Out of Memory)"
    KILLED = "Killed"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def is_failure(self) -> bool:
        return self.is_final and self is not ContainerStatus.COMPLETE


FINAL_STATUSES = frozenset(
    {
        ContainerStatus.COMPLETE,
        ContainerStatus.FAILED_RESOLUTION,
        ContainerStatus.FAILED_LAUNCH,
        ContainerStatus.FAILED_UPLOAD,
        ContainerStatus.FAILED,
        ContainerStatus.KILLED_OOM,
        ContainerStatus.KILLED,
    }
)

# Which statuses may follow each non-final status. Failures are reachable only from the stage
# in which they can happen (resolution fails while queued, launch while staging/created, …).
ALLOWED_TRANSITIONS: dict[ContainerStatus, frozenset[ContainerStatus]] = {
    ContainerStatus.QUEUED: frozenset(
        {ContainerStatus.STAGING, ContainerStatus.FAILED_RESOLUTION, ContainerStatus.KILLED}
    ),
    ContainerStatus.STAGING: frozenset(
        {
            ContainerStatus.CREATED,
            ContainerStatus.FAILED_RESOLUTION,
            ContainerStatus.FAILED_LAUNCH,
            ContainerStatus.KILLED,
        }
    ),
    ContainerStatus.CREATED: frozenset(
        {ContainerStatus.RUNNING, ContainerStatus.FAILED_LAUNCH, ContainerStatus.KILLED}
    ),
    ContainerStatus.RUNNING: frozenset(
        {
            ContainerStatus.FINALIZING,
            ContainerStatus.FAILED,
            ContainerStatus.KILLED,
            ContainerStatus.KILLED_OOM,
        }
    ),
    ContainerStatus.FINALIZING: frozenset(
        {ContainerStatus.COMPLETE, ContainerStatus.FAILED_UPLOAD, ContainerStatus.FAILED}
    ),
}


class StatusTransitionError(ValueError):
    """A status change that Container Service would never make (a bug, not a user error)."""


@dataclass(frozen=True)
class StatusEvent:
    """One entry of a container's history: the status, when, and why."""

    status: ContainerStatus
    time: datetime
    message: str = ""

    def to_json(self) -> dict[str, str]:
        return {"status": str(self.status), "time": self.time.isoformat(), "message": self.message}


@dataclass
class StatusHistory:
    """A container's current status with every earlier one, oldest first."""

    events: list[StatusEvent] = field(
        default_factory=lambda: [StatusEvent(ContainerStatus.QUEUED, datetime.now(UTC))]
    )

    @property
    def current(self) -> ContainerStatus:
        return self.events[-1].status

    def to_json(self) -> list[dict[str, str]]:
        return [event.to_json() for event in self.events]


def transition(history: StatusHistory, new: ContainerStatus, message: str = "") -> bool:
    """Move `history` to `new`, timestamped. Returns False (and changes nothing) when the
    container already has a final status; raises StatusTransitionError for a skipped stage."""
    current = history.current
    if current.is_final:
        log.debug("ignoring %s: container already %s", new, current)
        return False
    if new not in ALLOWED_TRANSITIONS[current]:
        raise StatusTransitionError(f"a container cannot go from {current!s} to {new!s}")
    history.events.append(StatusEvent(new, datetime.now(UTC), message))
    return True
