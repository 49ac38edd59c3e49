"""Moving a session through the sandbox with xnatpy vs copying the same bytes with shutil.

Ours: upload N files of 1 MB to a scan resource (one PUT each, streamed), then download the
session as one zip. Reference: `shutil.copyfile` of the same files into a folder and back.
The ratio is ours' throughput over the copy's (goal: at least half), for the whole round trip
and, to show where the time goes, for each direction on its own (upload vs the copy there,
zip download vs the copy back). The sandbox runs as its own process (`xnat-monai sandbox serve`)
so its peak RSS can be read from /proc and reported. Both sides start every round with the
previous round's writes flushed (`os.sync()`, outside the timing), so neither pays for the other's
dirty pages being written back, and the two sides take their rounds in turn (best of 3 each),
so a busy spell on the shared machine falls on both alike.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import xnat
from rich.progress import Progress

from benchmarks.harness import BenchResult, stopwatch

log = logging.getLogger(__name__)
MB = 1024 * 1024
# Each side runs this many times and keeps its best: the machine is shared, so one slow round
# says more about the neighbours than about the code.
ROUNDS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "xnat_plugin.cli",
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--user",
        "bench",
    ]
    env = {**os.environ, "XNAT_MONAI_SANDBOX_PASSWORD": "bench"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=1).ok:
                return process
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the sandbox did not start within 60 s")


def _make_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    block = os.urandom(MB)
    files = []
    for i in range(count):
        path = folder / f"slice{i:04d}.dcm"
        path.write_bytes(block[i % 251 :] + block[: i % 251])
        files.append(path)
    return files


@dataclass(frozen=True)
class Timings:
    """Best of the rounds: there (upload / copy in), back (download / copy out), both."""

    there: float
    back: float
    total: float


def _best(rounds: list[tuple[float, float]]) -> Timings:
    return Timings(
        there=min(t for t, _ in rounds),
        back=min(b for _, b in rounds),
        total=min(t + b for t, b in rounds),
    )


def _sandbox_round(session: Any, round_: int, files: list[Path], out: Path) -> tuple[float, float]:
    """Upload every file to a new scan, then download that scan as one zip: (up s, down s)."""
    scan = f"/data/projects/BENCH/subjects/s1/experiments/s1_CT/scans/{round_}"
    session.put(scan, query={"xsiType": "xnat:ctScanData"})
    os.sync()
    with stopwatch() as elapsed, Progress(transient=True) as progress:
        task = progress.add_task(f"round {round_}: upload", total=len(files))
        for path in files:
            session.upload_file(
                f"{scan}/resources/DICOM/files/{path.name}", str(path), verbose=False
            )
            progress.advance(task)
        uploaded = elapsed()
        with out.open("wb") as target:
            session.download_stream(f"{scan}/resources/DICOM/files", target, format="zip")
        return uploaded, elapsed() - uploaded


def _shutil_round(files: list[Path], root: Path, round_: int) -> tuple[float, float]:
    """Copy every file into a folder, then back out: (in s, out s)."""
    middle, back = root / f"middle{round_}", root / f"back{round_}"
    middle.mkdir()
    back.mkdir()
    os.sync()
    with stopwatch() as elapsed:
        for path in files:
            shutil.copyfile(path, middle / path.name)
        copied_in = elapsed()
        for path in files:
            shutil.copyfile(middle / path.name, back / path.name)
        result = copied_in, elapsed() - copied_in
    shutil.rmtree(middle)
    shutil.rmtree(back)
    return result


def _client_alone_round(url: str, files: list[Path], out: Path) -> tuple[float, float]:
    """xnatpy's HTTP calls (a streamed PUT per file, a streamed GET in 512 KB pieces) against
    a server that does nothing: (up s, down s), the most any server could reach."""
    with requests.Session() as http, stopwatch() as elapsed:
        for path in files:
            with path.open("rb") as body:
                http.put(
                    f"{url}/{path.name}",
                    data=body,
                    headers={"Content-Type": "application/octet-stream"},
                ).raise_for_status()
        uploaded = elapsed()
        with out.open("wb") as target, http.get(f"{url}/{len(files)}", stream=True) as answer:
            for chunk in answer.iter_content(524288):
                target.write(chunk)
        return uploaded, elapsed() - uploaded


def _start_null_server(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.null_http_server", str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the do-nothing HTTP server did not start within 30 s")


def _alternating_rounds(
    url: str, null_url: str, files: list[Path], root: Path, rounds: int
) -> tuple[Timings, Timings, Timings]:
    """Best of `rounds` for the sandbox, the copy and the client alone, their rounds taken in
    turn so that a busy spell on the shared machine falls on all sides alike."""
    ours: list[tuple[float, float]] = []
    reference: list[tuple[float, float]] = []
    client_alone: list[tuple[float, float]] = []
    with xnat.connect(url, user="bench", password="bench") as session:
        session.put("/data/projects/BENCH")
        session.put("/data/projects/BENCH/subjects/s1")
        session.put(
            "/data/projects/BENCH/subjects/s1/experiments/s1_CT",
            query={"xsiType": "xnat:ctSessionData"},
        )
        for round_ in range(1, rounds + 1):
            ours.append(_sandbox_round(session, round_, files, root / "session.zip"))
            reference.append(_shutil_round(files, root, round_))
            client_alone.append(_client_alone_round(null_url, files, root / "null.bin"))
    return _best(ours), _best(reference), _best(client_alone)


def run(quick: bool) -> list[BenchResult]:
    count = 40 if quick else 200
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        root = Path(tmp)
        files = _make_files(root / "source", count)
        port = _free_port()
        null_port = _free_port()
        server = _start_server(root / "sandbox", port)
        null_server = _start_null_server(null_port)
        try:
            idle_rss = _rss_mb(server.pid)
            ours, reference, client_alone = _alternating_rounds(
                f"http://127.0.0.1:{port}", f"http://127.0.0.1:{null_port}", files, root, ROUNDS
            )
            peak_rss = _peak_rss_mb(server.pid)
        finally:
            for process in (server, null_server):
                process.terminate()
                process.wait(timeout=30)
        zipped = (root / "session.zip").stat().st_size
        if zipped < count * MB:
            raise RuntimeError(f"the downloaded zip holds {zipped} bytes, expected >= {count} MB")
    note = (
        f"{count} x 1 MB up + zip down, best of {ROUNDS}: {ours.total:.2f} s "
        f"(up {ours.there:.2f} s, down {ours.back:.2f} s) vs copy {reference.total:.2f} s "
        f"(in {reference.there:.2f} s, out {reference.back:.2f} s); the same HTTP client "
        f"against a do-nothing server {client_alone.total:.2f} s (up {client_alone.there:.2f} s, "
        f"down {client_alone.back:.2f} s), so no server can pass a ratio of "
        f"{reference.total / client_alone.total:.2f}; "
        f"server RSS idle {idle_rss:.0f} MB, peak {peak_rss:.0f} MB"
    )
    log.info(note)
    return [
        BenchResult(
            name="sandbox_transfer_throughput",
            ours=2 * count / ours.total,  # every byte goes up once and down once
            reference=2 * count / reference.total,
            goal=">=0.5",
            unit="MB/s",
            note=note,
        ),
        BenchResult(
            name="sandbox_upload_throughput",
            ours=count / ours.there,
            reference=count / reference.there,
            goal=">=0.5",
            unit="MB/s",
            note=f"{count} single-file PUTs vs shutil.copyfile into a folder, best of {ROUNDS}",
        ),
        BenchResult(
            name="sandbox_zip_download_throughput",
            ours=count / ours.back,
            reference=count / reference.back,
            goal=">=0.5",
            unit="MB/s",
            note=f"one zip of {count} files vs shutil.copyfile back out, best of {ROUNDS}",
        ),
    ]
