"""What the sandbox keeps of one launch: its workflow (from the launch on) and its container
(only once the container is created), with the status rules Container Service applies.

- `WorkflowRow` is XNAT's `wrk:workflowData`, as `ContainerServiceImpl.createContainerWorkflow`
  fills it in: ID and data type of the root object, the project, the wrapper name as
  pipeline name, justification "Container launch", the bulk-launch id as job id.
- `ContainerRow` is `ContainerEntity`: its history keeps the raw statuses and its status is
  the mapped one of the newest entry, except that a final status is only ever replaced by a
  newer final one (`HibernateContainerEntityService.addContainerHistoryItem`).

Both carry private bookkeeping the REST answers never show (the alias token of the run, the
process group of the job), which crash recovery needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from xnat_plugin.runner import status as cs
from xnat_plugin.runner.status import format_status_time

PRIVATE_FIELDS = ("alias", "service_alias", "process_group", "process_start")


def now() -> datetime:
    return datetime.now(UTC)


def xft_time(when: datetime) -> str:
    """XNAT's own date format in XFT items and listings."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}"


@dataclass
class WorkflowRow:
    """One `wrk:workflowData` row, plus what the worker needs to run the launch."""

    id: int
    data_type: str
    item_id: str
    external_id: str
    pipeline_name: str
    create_user: str
    launch_time: str
    status: str = cs.WORKFLOW_QUEUED
    details: str = ""
    comments: str = ""
    job_id: str | None = None
    scan_id: str | None = None
    last_modified: str = ""
    # The launch itself (not part of XNAT's workflow, kept beside it).
    command_id: int = 0
    wrapper_id: int = 0
    wrapper_name: str = ""
    project: str = ""
    root_input: str = ""
    params: dict[str, str] = field(default_factory=dict)
    subscription_id: int | None = None
    container_row: int | None = None
    alias: str | None = None
    # the token of the service's own calls (resolution, finalizing), never given to the container
    service_alias: str | None = None

    @property
    def is_final(self) -> bool:
        return cs.is_terminal(self.status)

    def set_status(self, status: str, details: str | None = None) -> None:
        """`ContainerServiceImpl.updateWorkflow`: status and details together."""
        self.status = status
        if details is not None:
            self.details = details
        self.last_modified = xft_time(now())

    def data_fields(self) -> dict[str, Any]:
        """The fields of the XFT item (`/data/workflows/{id}?format=json`)."""
        fields: dict[str, Any] = {
            "wrk_workflowData_id": self.id,
            "data_type": self.data_type,
            "ID": self.item_id,
            "ExternalID": self.external_id,
            "pipeline_name": self.pipeline_name,
            "launch_time": self.launch_time,
            "status": self.status,
            "create_user": self.create_user,
            "justification": cs.CONTAINER_LAUNCH_JUSTIFICATION,
            "category": "DATA",
            "type": "PROCESS",
            "details": self.details,
            "comments": self.comments,
            "jobID": self.job_id,
            "scan_id": self.scan_id,
        }
        return {k: v for k, v in fields.items() if v not in (None, "")}

    def to_record(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "id"}


@dataclass
class ContainerRow:
    """One created container: everything `GET /xapi/containers/{id}` shows, and bookkeeping."""

    id: int
    command_id: int
    wrapper_id: int
    project: str
    user: str
    workflow_id: str
    docker_image: str
    status: str = ""
    status_time: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    command_line: str = ""
    log_dir: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    alias: str | None = None
    process_group: int | None = None
    process_start: str | None = None

    @property
    def container_id(self) -> str:
        """The backend's container id (`container-id`), as Docker would give one."""
        return f"sandbox-{self.id:06d}"

    @property
    def is_final(self) -> bool:
        return cs.is_terminal(self.status)

    @property
    def exit_code(self) -> str | None:
        codes = [h.get("exitCode") for h in self.history if h.get("exitCode") is not None]
        return str(codes[-1]) if codes else None

    def add_history(
        self,
        status: str,
        *,
        entity_type: str = "system",
        entity_id: str | None = None,
        message: str | None = None,
        exit_code: int | str | None = None,
    ) -> bool:
        """Record one history item; the container's status follows it when it is newer and
        does not replace a final status with a non-final one. True when the status changed."""
        when = now()
        entry: dict[str, Any] = {
            "id": len(self.history) + 1,
            "status": status,
            "entity-type": entity_type,
            "entity-id": entity_id,
            "time-recorded": format_status_time(when),
            # System entries carry the epoch milliseconds, served in the same date format.
            "external-timestamp": format_status_time(when) if entity_type == "system" else None,
            "message": message,
            "exitCode": None if exit_code is None else str(exit_code),
        }
        self.history.append(entry)
        mapped = cs.map_status(status)
        if cs.is_terminal(self.status) and not cs.is_terminal(mapped):
            return False
        self.status = mapped
        self.status_time = entry["time-recorded"]
        return True

    def to_record(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "id"}
