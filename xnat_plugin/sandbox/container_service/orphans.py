"""Processes a crashed server left behind: a process-backend job leads its own process group
(the backend starts it in a new session), whose id and start time the container record keeps;
at the next start-up whatever is left of that group is killed.

The leader's start time (clock ticks since boot, `/proc/<pid>/stat` field 22) guards against a
reused id: while any process of the job's group lives, no new group can take its id; a living
leader with another start time therefore means the id now belongs to someone else, and that
group is left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    return text[text.rindex(")") + 2 :].split()


def process_start_time(pid: int) -> str | None:
    """The start time of `pid` in clock ticks since boot, or None when it is gone."""
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None


def group_members(process_group: int, not_before: str | None) -> list[int]:
    """Living processes of `process_group` that started at or after `not_before`."""
    members = []
    for entry in PROC.iterdir() if PROC.is_dir() else []:
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if not fields or len(fields) <= 19 or fields[0] == "Z":
            continue
        if int(fields[2]) != process_group:
            continue
        if not_before is not None and int(fields[19]) < int(not_before):
            continue
        members.append(int(entry.name))
    return members


def kill_orphans(process_group: int | None, not_before: str | None) -> list[int]:
    """Kill what is left of a job's process group; the ids that were killed."""
    if process_group is None:
        return []
    leader_start = process_start_time(process_group)
    if leader_start is not None and not_before is not None and leader_start != not_before:
        return []  # the id was reused by a new process group
    members = group_members(process_group, not_before)
    for pid in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if members:
        log.warning("killed %d orphaned process(es) of job group %d", len(members), process_group)
    return members
