"""Sixteen clients upload and download for a minute while container jobs run, against a served
sandbox on loopback: no error, no file lost, every digest equal, archive and catalogue agreeing.

Bounded: 16 clients, 60 seconds of traffic, files of 8-256 KiB (a few hundred MB in all).
"""

from __future__ import annotations

import hashlib
import io
import logging
import random
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.container_service.sandbox_data import TINY_WRAPPER, add_ct_session, installed_admin
from tests.sandbox.served import PASSWORD, USER, ServedSandbox, archive_disagreements
from tests.sandbox.served import catalogued_files as catalogue
from xnat_plugin.admin import Xapi, launch, wait_for_launches
from xnat_plugin.admin.watching import JobInfo

pytestmark = pytest.mark.slow
CLIENTS = 16
SECONDS = 60.0
PROJECT = "LOAD"
SESSIONS = 2


@dataclass
class Client:
    """One client's uploads (name → MD5), what it did, and anything that went wrong."""

    index: int
    files: dict[str, str] = field(default_factory=dict)
    operations: int = 0
    errors: list[str] = field(default_factory=list)


def _run_client(url: str, client: Client, stop: threading.Event) -> None:
    rng = random.Random(client.index)
    http = requests.Session()
    http.auth = (USER, PASSWORD)
    base = f"{url}/data/projects/{PROJECT}/resources/C{client.index:02d}/files"

    def check(answer: requests.Response, what: str) -> bool:
        if answer.status_code != 200:
            client.errors.append(f"{what}: {answer.status_code} {answer.text[:200]}")
            return False
        return True

    while not stop.is_set():
        try:
            name = f"f{len(client.files):04d}.bin"
            data = rng.randbytes(rng.randrange(8 * 1024, 256 * 1024))
            if check(http.put(f"{base}/{name}", data=data, timeout=120), f"PUT {name}"):
                client.files[name] = hashlib.md5(data).hexdigest()
            some = rng.choice(sorted(client.files))
            answer = http.get(f"{base}/{some}", timeout=120)
            if check(answer, f"GET {some}") and (
                hashlib.md5(answer.content).hexdigest() != client.files[some]
            ):
                client.errors.append(f"GET {some}: another digest")
            client.operations += 2
            if client.operations % 20 == 0:
                listing = http.get(base, params={"format": "json"}, timeout=120)
                if check(listing, "listing"):
                    rows = listing.json()["ResultSet"]["Result"]
                    listed = {row["Name"]: row["digest"] for row in rows}
                    if any(listed.get(n) != d for n, d in client.files.items()):
                        client.errors.append("listing: a file missing or with another digest")
                client.operations += 1
            if client.operations % 50 == 1:
                zipped = http.get(base, params={"format": "zip"}, timeout=120)
                if check(zipped, "zip"):
                    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
                        got = {
                            info.filename.rsplit("/", 1)[-1]: hashlib.md5(
                                archive.read(info)
                            ).hexdigest()
                            for info in archive.infolist()
                        }
                    if any(got.get(n) != d for n, d in client.files.items()):
                        client.errors.append("zip: a file missing or with another digest")
                client.operations += 1
        except requests.RequestException as exc:
            client.errors.append(f"{exc.__class__.__name__}: {exc}")


def _run_jobs(admin: Xapi, sessions: list[str], stop: threading.Event, done: list[JobInfo]) -> None:
    """Launch the tiny command on the sessions in turn, one job at a time, until told to stop
    (each launch followed through its workflow, as ContainerServiceImpl.launchContainer answers)."""
    turn = 0
    while not stop.is_set():
        launched = launch(admin, PROJECT, TINY_WRAPPER, f"/experiments/{sessions[turn % 2]}")
        done.extend(wait_for_launches(admin, [launched], timeout=300, show_progress=False))
        turn += 1


def test_sixteen_clients_for_a_minute_while_jobs_run(tmp_path: Path) -> None:
    server = ServedSandbox(tmp_path / "xnat")
    server.start()
    try:
        assert server.http().put(f"{server.url}/data/projects/{PROJECT}").status_code == 201
        sessions = [add_ct_session(server, PROJECT, i) for i in range(1, SESSIONS + 1)]
        admin = installed_admin(server, tmp_path, [PROJECT])
        stop = threading.Event()
        clients = [Client(i) for i in range(CLIENTS)]
        jobs: list[JobInfo] = []
        threads = [
            threading.Thread(target=_run_client, args=(server.url, c, stop), daemon=True)
            for c in clients
        ]
        threads.append(
            threading.Thread(target=_run_jobs, args=(admin, sessions, stop, jobs), daemon=True)
        )
        began = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(SECONDS)
        stop.set()
        for thread in threads:
            thread.join(timeout=300)
        took = time.monotonic() - began
        assert not any(t.is_alive() for t in threads), "a client or the job loop hung"

        errors = [f"client {c.index}: {e}" for c in clients for e in c.errors]
        assert errors == []
        assert jobs and {job.status for job in jobs} == {"Complete"}
        assert all(c.operations >= 10 for c in clients), [c.operations for c in clients]
        listed = catalogue(server.data_dir)
        for client in clients:
            for name, digest in client.files.items():
                row = listed.get(f"{PROJECT}/resources/C{client.index:02d}/{name}")
                assert row is not None and row[1] == digest, (client.index, name)
        assert archive_disagreements(server.data_dir) == []
        logging.getLogger(__name__).info(
            "%d requests from %d clients and %d jobs in %.0f s",
            sum(c.operations for c in clients),
            CLIENTS,
            len(jobs),
            took,
        )
    finally:
        server.stop()
