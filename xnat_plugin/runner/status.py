"""The status vocabulary of Container Service 3.7.3 on XNAT 1.9, and the runner's status machine.

One module for every status string the product reads or writes, as XNAT writes them:

- A launch first creates a **workflow** (`PersistentWorkflowUtils`): `Queued`, then
  `_Queued` while it waits in the staging queue (`ContainerRequest.inQueueStatusPrefix`), then
  `Staging` (details "Command resolution") when a consumer takes it
  (`ContainerServiceImpl.consumeResolveCommandAndLaunchContainer`), `Queued` again once the
  command is resolved (`updateWorkflowWithResolvedCommand`). A failure before the container
  exists is recorded on the workflow only: `Failed (Command resolution)`,
  `Failed (Container launch)`, `Failed (Staging)` (`ContainerServiceImpl.handleFailure`).
- The **container** row exists only once the container is created (`launchResolvedDockerCommand`
  saves it after `containerControlApi.create`). Its history keeps the raw statuses (`Created`,
  `start`, `die`, `kill`, `oom`, `_die`, `Finalizing`, `Complete`, ...); its `status` is the
  mapped one (`ContainerEntity.mapStatus`): `start` → `Running`, `kill` → `Failed (Killed)`,
  `oom` → `Failed (Oom)`, and on Swarm `Waiting (...)` around those. Finalization ends in
  `Complete`, `Failed (Upload)` or `Failed` (`ContainerFinalizeServiceImpl`). From then on
  the workflow carries the container's status (`ContainerUtils.updateWorkflowStatus`).
- A status is final when it starts with `Complete`, `Failed` or `Killed`
  (`ContainerUtils.statusIsTerminal`); `Waiting (Failed (Killed))` is not final yet.
- `status-time` and a history entry's `time-recorded` are written by `JsonDateSerializer`
  (`yyyy-MM-dd'T'HH:mm:ss.SSSZ`); inside CS the system entries carry the epoch milliseconds
  in `external-timestamp`, which `JsonStringToDateSerializer` prints in the same format.

The runner (`xnat-monai run`, and the sandbox's container service through it) walks one
combined machine, `ContainerStatus`, whose values are the strings above.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger(__name__)

# ---- workflow statuses and details (PersistentWorkflowUtils, ContainerServiceImpl) ----------

IN_QUEUE_PREFIX = "_"  # ContainerRequest.inQueueStatusPrefix
WORKFLOW_QUEUED = "Queued"  # PersistentWorkflowUtils.QUEUED
WORKFLOW_IN_STAGING_QUEUE = IN_QUEUE_PREFIX + WORKFLOW_QUEUED
WORKFLOW_STAGING = "Staging"
STAGING_DETAILS = "Command resolution"
FAILED = "Failed"  # PersistentWorkflowUtils.FAILED
COMPLETE = "Complete"  # PersistentWorkflowUtils.COMPLETE
FAILED_COMMAND_RESOLUTION = "Failed (Command resolution)"
FAILED_CONTAINER_LAUNCH = "Failed (Container launch)"
FAILED_STAGING = "Failed (Staging)"
FAILED_UPLOAD = "Failed (Upload)"
FAILED_OOM = "Failed (Oom)"
FAILED_KILLED = "Failed (Killed)"
RESOLUTION_DETAILS_PREFIX = "Submitted data does not match command resolution requirements. "
CONTAINER_LAUNCH_JUSTIFICATION = "Container launch"  # ContainerServiceImpl
TO_BE_ASSIGNED = "To be assigned"  # the workflow id of each bulk-launch success

# ---- container statuses and history messages (ContainerServiceImpl, finalize service) -----

CREATED = "Created"
RUNNING = "Running"
FINALIZING = "Finalizing"
WAITING = "Waiting"
KILL_STATUS = "kill"  # ContainerEntity.KILL_STATUS, recorded as a user's action
DOCKER_START = "start"
DOCKER_DIE = "die"
DOCKER_OOM = "oom"
QUEUED_FOR_FINALIZING = "Queued for finalizing"
FINALIZING_MESSAGE = "Processing finished. Uploading files."
NON_ZERO_EXIT = "Non-zero exit code and/or failure status from container"
UPLOAD_FAILED_MESSAGE = "Failed to upload required outputs.\n"

TERMINAL_PREFIXES = ("Complete", "Failed", "Killed")  # ContainerUtils.TerminalState

# Workflow statuses of a launch that has no container (yet, or ever).
PRE_CONTAINER_STATUSES = frozenset(
    {
        WORKFLOW_QUEUED,
        WORKFLOW_IN_STAGING_QUEUE,
        WORKFLOW_STAGING,
        FAILED_COMMAND_RESOLUTION,
        FAILED_CONTAINER_LAUNCH,
        FAILED_STAGING,
    }
)
# Final statuses only a container reaches (finalizing, or mapped from Docker's events).
CONTAINER_FAILURES = frozenset({FAILED, FAILED_UPLOAD, FAILED_OOM, FAILED_KILLED})
STATUS_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"  # written with milliseconds, see format_status_time


def map_status(raw: str, *, swarm: bool = False) -> str:
    """The container status XNAT shows for a raw history status (`ContainerEntity.mapStatus`)."""

    def for_service(status: str) -> str:
        return f"{WAITING} ({status})" if swarm else status

    if raw == "complete":
        return WAITING
    if raw == "created":
        return CREATED
    if raw in ("create", "start", "started", "starting", "running"):
        return RUNNING
    if raw in ("remove", "orphaned", "oom", "rejected", "shutdown"):
        return for_service(f"{FAILED} ({raw.capitalize()})")
    if raw == KILL_STATUS:
        return for_service(FAILED_KILLED)
    if raw == "failed":
        return FAILED
    return raw


def is_terminal(status: str | None) -> bool:
    """`ContainerUtils.statusIsTerminal`: Complete..., Failed..., Killed... never change again
    (except to a newer terminal status)."""
    return bool(status) and str(status).startswith(TERMINAL_PREFIXES)


def is_complete(status: str | None) -> bool:
    return status == COMPLETE


def is_in_queue(status: str | None) -> bool:
    """A workflow or container waiting in one of CS's JMS queues (`_Queued`, `_die`, ...)."""
    return bool(status) and str(status).startswith(IN_QUEUE_PREFIX)


def failure_status(suffix: str) -> str:
    """`Failed (<suffix>)` as `ContainerServiceImpl.handleFailure` builds it."""
    return f"{FAILED} ({suffix})" if suffix else FAILED


# ---- times -----------------------------------------------------------------------------------


def format_status_time(when: datetime | None = None) -> str:
    """`JsonDateSerializer`: `2024-05-01T10:00:00.123+0000` (milliseconds, numeric zone)."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def epoch_millis(when: datetime | None = None) -> str:
    """What CS keeps in a system history entry's external timestamp."""
    return str(int((when or datetime.now(UTC)).timestamp() * 1000))


_NUMERIC = re.compile(r"^\d{12,}$")


def parse_status_time(value: object) -> datetime | None:
    """A status time as any XNAT prints it (the serialised form, epoch milliseconds, ISO 8601,
    or XFT's `2024-05-01 10:00:00.123`); None when it is none of these."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if isinstance(value, int | float) or _NUMERIC.match(text):
        number = int(float(text))
        if len(str(number)) >= 16:  # nanoseconds, as Docker reports them
            number //= 1_000_000
        return datetime.fromtimestamp(number / 1000, UTC)
    for pattern in (STATUS_TIME_FORMAT, "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            parsed = datetime.strptime(text, pattern)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---- the runner's status machine ----------------------------------------------------------


class ContainerStatus(enum.StrEnum):
    """The statuses one launch passes through in the runner, as CS writes them."""

    QUEUED = WORKFLOW_IN_STAGING_QUEUE
    STAGING = WORKFLOW_STAGING
    CREATED = CREATED
    RUNNING = RUNNING
    FINALIZING = FINALIZING
    COMPLETE = COMPLETE
    FAILED_RESOLUTION = FAILED_COMMAND_RESOLUTION
    FAILED_LAUNCH = FAILED_CONTAINER_LAUNCH
    FAILED_UPLOAD = FAILED_UPLOAD
    FAILED = FAILED
    KILLED_OOM = FAILED_OOM
    KILLED = FAILED_KILLED

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
