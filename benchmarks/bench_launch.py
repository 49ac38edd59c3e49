"""Launch overhead of the sandbox's Container Service + runner, against running the same
no-op directly with subprocess, and bulk throughput with 2 workers.

1. One no-op job (`/bin/sh -c true` on a session) from `POST …/launch` to status `Complete`,
   one at a time, against the same no-op run with `subprocess.run`. Goal: the overhead stays
   under 1 s per job, i.e. ours < direct + 1 s (the reference is direct + 1 s, goal ratio < 1).
2. 100 no-op launches (quick: 20) as one bulk launch on a 2-worker sandbox, in sessions per
   minute, against what a 1 s-per-job overhead would allow with 2 workers (120 per minute).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from benchmarks.harness import BenchResult, stopwatch
from xnat_plugin.runner import status as cs
from xnat_plugin.sandbox.server import running_sandbox

log = logging.getLogger(__name__)

OVERHEAD_BUDGET_S = 1.0
POLL_S = 0.01
NOOP_COMMAND: dict[str, Any] = {
    "name": "xnat-monai-bench-noop",
    "version": "1.0",
    "image": "busybox:1.36",
    "type": "docker",
    "command-line": "true",
    "override-entrypoint": True,
    "mounts": [],
    "inputs": [],
    "outputs": [],
    "xnat": [
        {
            "name": "bench-noop",
            "label": "No-op",
            "contexts": ["xnat:imageSessionData"],
            "external-inputs": [{"name": "session", "type": "Session", "required": True}],
            "derived-inputs": [],
            "output-handlers": [],
        }
    ],
}


def _setup(url: str, http: requests.Session, sessions: int) -> tuple[str, list[str]]:
    """Project BENCH with `sessions` CT sessions and the no-op command enabled on it."""
    http.put(f"{url}/data/projects/BENCH").raise_for_status()
    ids = []
    for i in range(sessions):
        base = f"{url}/data/projects/BENCH/subjects/S{i:03d}"
        http.put(base).raise_for_status()
        http.put(
            f"{base}/experiments/S{i:03d}_CT1", params={"xsiType": "xnat:ctSessionData"}
        ).raise_for_status()
        found = http.get(f"{base}/experiments/S{i:03d}_CT1", params={"format": "json"})
        ids.append(found.json()["items"][0]["data_fields"]["ID"])
    command_id = int(http.post(f"{url}/xapi/commands", json=NOOP_COMMAND).text)
    wrapper = f"{url}/xapi/commands/{command_id}/wrappers/bench-noop"
    http.put(f"{wrapper}/enabled").raise_for_status()
    project_wrapper = f"{url}/xapi/projects/BENCH/commands/{command_id}/wrappers/bench-noop"
    http.put(f"{project_wrapper}/enabled").raise_for_status()
    return project_wrapper, ids


def _wait_complete(url: str, http: requests.Session, workflow_ids: list[str]) -> None:
    """Poll each launch's workflow (it carries the container's status once that exists)."""
    pending = set(workflow_ids)
    while pending:
        for wid in list(pending):
            item = http.get(f"{url}/data/workflows/{wid}", params={"format": "json"}).json()
            fields = item["items"][0]["data_fields"]
            status = fields["status"]
            if cs.is_complete(status):
                pending.discard(wid)
            elif cs.is_terminal(status):
                reason = fields.get("details", "")
                raise RuntimeError(f"no-op launch {wid} ended {status}: {reason}")
        time.sleep(POLL_S)


def _launch_one(url: str, http: requests.Session, wrapper: str, session_id: str) -> str:
    """Launch; the workflow id XNAT answers."""
    report = http.post(
        f"{wrapper}/root/session/launch", json={"session": f"/experiments/{session_id}"}
    ).json()
    if report["status"] != "success":
        raise RuntimeError(f"launch refused: {report.get('message')}")
    return str(report["workflow-id"])


def _bulk_workflows(
    url: str, http: requests.Session, bulk_id: str, session_ids: list[str]
) -> list[str]:
    """The workflow of each bulk-launched session: XNAT answers "To be assigned" for each, and
    its workflows carry the bulk-launch id as their job id."""
    found: dict[str, str] = {}
    while len(found) < len(session_ids):
        for session_id in session_ids:
            if session_id in found:
                continue
            listing = http.get(
                f"{url}/data/services/workflows/bench-noop",
                params={"experiment": session_id, "display": "ALL", "format": "json"},
            ).json()
            for row in listing["ResultSet"]["Result"]:
                if row.get("jobID") == bulk_id:
                    found[session_id] = str(row["wrk_workflowData_id"])
        time.sleep(POLL_S)
    return [found[s] for s in session_ids]


def _direct_noop_seconds(repeats: int) -> float:
    with stopwatch() as elapsed:
        for _ in range(repeats):
            subprocess.run(["/bin/sh", "-c", "true"], check=True)
    return elapsed() / repeats


def measure_overhead(repeats: int) -> BenchResult:
    with tempfile.TemporaryDirectory() as tmp, running_sandbox(Path(tmp) / "xnat") as server:
        http = requests.Session()
        http.auth = (server.user, server.password)
        wrapper, ids = _setup(server.url, http, repeats)
        _wait_complete(server.url, http, [_launch_one(server.url, http, wrapper, ids[0])])  # warm
        times = []
        for session_id in ids:
            with stopwatch() as elapsed:
                cid = _launch_one(server.url, http, wrapper, session_id)
                _wait_complete(server.url, http, [cid])
            times.append(elapsed())
    ours = sum(times) / len(times)
    direct = _direct_noop_seconds(repeats)
    log.info("launch → Complete %.0f ms per job; direct no-op %.1f ms", ours * 1e3, direct * 1e3)
    return BenchResult(
        name="launch overhead: launch→Complete vs direct no-op + 1 s budget",
        ours=ours,
        reference=direct + OVERHEAD_BUDGET_S,
        goal="<1.0",
        unit="s",
        note=f"mean of {repeats} sequential no-op jobs; direct no-op {direct * 1e3:.1f} ms",
    )


def measure_bulk(jobs: int, workers: int = 2) -> BenchResult:
    previous = os.environ.get("XNAT_MONAI_CONTAINER_WORKERS")
    os.environ["XNAT_MONAI_CONTAINER_WORKERS"] = str(workers)
    try:
        with tempfile.TemporaryDirectory() as tmp, running_sandbox(Path(tmp) / "xnat") as server:
            http = requests.Session()
            http.auth = (server.user, server.password)
            wrapper, ids = _setup(server.url, http, jobs)
            with stopwatch() as elapsed:
                report = http.post(
                    f"{wrapper}/root/session/bulklaunch",
                    json={"session": json.dumps([f"/experiments/{i}" for i in ids])},
                ).json()
                if report["failures"]:
                    raise RuntimeError(f"bulk launch refused some: {report['failures'][:2]}")
                workflows = _bulk_workflows(server.url, http, report["bulk-launch-id"], ids)
                _wait_complete(server.url, http, workflows)
            seconds = elapsed()
    finally:
        if previous is None:
            os.environ.pop("XNAT_MONAI_CONTAINER_WORKERS", None)
        else:
            os.environ["XNAT_MONAI_CONTAINER_WORKERS"] = previous
    per_minute = jobs / seconds * 60
    budget = workers * 60 / OVERHEAD_BUDGET_S
    log.info("bulk: %d no-op jobs in %.1f s with %d workers", jobs, seconds, workers)
    return BenchResult(
        name=f"bulk throughput: {jobs} no-op launches, {workers} workers",
        ours=per_minute,
        reference=budget,
        goal=">=1.0",
        unit="sessions/min",
        note=f"{seconds:.1f} s wall; reference = {workers} workers at 1 s overhead per job",
    )


def run(quick: bool) -> list[BenchResult]:
    return [measure_overhead(3 if quick else 10), measure_bulk(20 if quick else 100)]
