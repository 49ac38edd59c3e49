"""Reading a session the way Container Service resolution needs it, against xnatpy.

Resolution builds the session's JSON (scans, resources, every file, assessors) over REST.
The reference walks the same objects with xnatpy (`experiments[id]`, each scan, each
resource's file listing, the assessors) against the same sandbox. Goal: ours takes at most
1.5 × xnatpy's time, so resolving a launch costs no more than a client script reading the
session would.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
from pathlib import Path

import xnat

from benchmarks.harness import BenchResult, stopwatch
from xnat_plugin.runner.xnat_objects import XnatObjectLoader
from xnat_plugin.runner.xnat_rest import XnatRest
from xnat_plugin.sandbox.server import running_sandbox

log = logging.getLogger(__name__)


def _seed(rest: XnatRest, scans: int, files: int, scratch: Path) -> str:
    rest.put("/data/projects/BENCH")
    rest.put("/data/projects/BENCH/subjects/S1")
    session_id = rest.put(
        "/data/projects/BENCH/subjects/S1/experiments/CT_BENCH",
        {"xsiType": "xnat:ctSessionData"},
    ).text.strip()
    payload = scratch / "slice.dcm"
    payload.write_bytes(b"\0" * 2048)
    for scan in range(1, scans + 1):
        rest.put(
            f"/data/projects/BENCH/subjects/S1/experiments/CT_BENCH/scans/{scan}",
            {"xsiType": "xnat:ctScanData", "type": "CT"},
        )
        scan_uri = f"/archive/experiments/{session_id}/scans/{scan}"
        rest.create_resource(scan_uri, "DICOM", {})
        for index in range(files):
            rest.upload_file(scan_uri, "DICOM", f"{index:04d}.dcm", payload)
    return session_id


def _ours(rest: XnatRest, session_id: str) -> int:
    session = XnatObjectLoader(rest).load(f"/experiments/{session_id}")
    return sum(len(r["files"]) for s in session.json["scans"] for r in s["resources"])


def _xnatpy(connection: object, session_id: str) -> int:
    session = connection.experiments[session_id]  # type: ignore[attr-defined]
    session.clearcache()
    count = 0
    for scan in session.scans.values():
        _ = (scan.type, scan.series_description, scan.quality)
        for resource in scan.resources.values():
            count += len(resource.files)
    _ = list(session.assessors.values())
    _ = list(session.resources.values())
    return count


def run(quick: bool) -> list[BenchResult]:
    scans, files, repeats = (4, 10, 3) if quick else (12, 40, 5)
    with tempfile.TemporaryDirectory() as scratch, running_sandbox(Path(scratch) / "x") as box:
        rest = XnatRest(box.url, box.user, box.password)
        session_id = _seed(rest, scans, files, Path(scratch))
        connection = xnat.connect(box.url, user=box.user, password=box.password)
        try:
            ours_times, reference_times = [], []
            for _ in range(repeats):
                with stopwatch() as elapsed:
                    counted = _ours(rest, session_id)
                ours_times.append(elapsed())
                with stopwatch() as elapsed:
                    reference_count = _xnatpy(connection, session_id)
                reference_times.append(elapsed())
            if counted != scans * files or reference_count != scans * files:
                raise RuntimeError(f"file counts differ: {counted} vs {reference_count}")
        finally:
            connection.disconnect()
            rest.close()
    return [
        BenchResult(
            name=f"resolve a session ({scans} scans × {files} files) vs xnatpy walk",
            ours=statistics.median(ours_times),
            reference=statistics.median(reference_times),
            goal="<=1.5",
            unit="s",
            note=f"median of {repeats}; same sandbox, same objects",
        )
    ]
