"""The runner's status machine, and the status vocabulary of Container Service 3.7.3
(`ContainerEntity.mapStatus`, `ContainerUtils.statusIsTerminal`, `JsonDateSerializer`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xnat_plugin.runner import status as cs
from xnat_plugin.runner.status import (
    ContainerStatus,
    StatusHistory,
    StatusTransitionError,
    transition,
)


def test_a_container_walks_the_happy_path_with_a_timestamp_per_step() -> None:
    history = StatusHistory()
    for status in (
        ContainerStatus.STAGING,
        ContainerStatus.CREATED,
        ContainerStatus.RUNNING,
        ContainerStatus.FINALIZING,
        ContainerStatus.COMPLETE,
    ):
        assert transition(history, status)
    assert [e.status.value for e in history.events] == [
        "_Queued",
        "Staging",
        "Created",
        "Running",
        "Finalizing",
        "Complete",
    ]
    times = [e.time for e in history.events]
    assert times == sorted(times)


def test_skipping_a_stage_is_refused() -> None:
    history = StatusHistory()
    with pytest.raises(StatusTransitionError, match="_Queued to Running"):
        transition(history, ContainerStatus.RUNNING)


def test_a_final_status_is_never_overwritten_by_a_late_kill() -> None:
    history = StatusHistory()
    transition(history, ContainerStatus.FAILED_RESOLUTION, "bad input")
    assert not transition(history, ContainerStatus.KILLED)
    assert history.current is ContainerStatus.FAILED_RESOLUTION
    assert history.current.is_failure


def test_upload_failure_is_reachable_only_while_finalizing() -> None:
    history = StatusHistory()
    transition(history, ContainerStatus.STAGING)
    with pytest.raises(StatusTransitionError):
        transition(history, ContainerStatus.FAILED_UPLOAD)


# ---- the vocabulary as Container Service writes it -----------------------------------------


@pytest.mark.parametrize(
    ("raw", "swarm", "shown"),
    [
        ("created", False, "Created"),
        ("start", False, "Running"),
        ("die", False, "die"),
        ("kill", False, "Failed (Killed)"),
        ("oom", False, "Failed (Oom)"),
        ("kill", True, "Waiting (Failed (Killed))"),
        ("rejected", True, "Waiting (Failed (Rejected))"),
        ("complete", True, "Waiting"),
        ("failed", False, "Failed"),
        ("Complete", False, "Complete"),
    ],
)
def test_raw_statuses_map_as_container_entity_maps_them(raw: str, swarm: bool, shown: str) -> None:
    """ContainerEntity.mapStatus (and prefixForService on Swarm)."""
    assert cs.map_status(raw, swarm=swarm) == shown


def test_a_status_is_final_when_it_starts_with_complete_failed_or_killed() -> None:
    """ContainerUtils.statusIsTerminal: a Swarm service still `Waiting (...)` is not final."""
    assert all(cs.is_terminal(s) for s in ("Complete", "Failed (Oom)", "Failed", "Killed"))
    assert not any(
        cs.is_terminal(s)
        for s in ("_Queued", "Queued", "Staging", "Running", "die", "_die", "Waiting (Failed)")
    )
    assert all(s.is_final == cs.is_terminal(s) for s in ContainerStatus)


def test_status_time_is_written_as_json_date_serializer_writes_it() -> None:
    """JsonDateSerializer: yyyy-MM-dd'T'HH:mm:ss.SSSZ; epoch milliseconds (what CS keeps in a
    system entry's external timestamp) and XFT's form read back to the same instant."""
    when = datetime(2026, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert cs.format_status_time(when) == "2026-05-01T10:00:00.123+0000"
    assert cs.parse_status_time("2026-05-01T10:00:00.123+0000") == when
    assert cs.parse_status_time(cs.epoch_millis(when)) == when
    assert cs.parse_status_time(int(cs.epoch_millis(when))) == when
    assert cs.parse_status_time("2026-05-01 10:00:00.123") == when
    assert cs.parse_status_time("not a time") is None
