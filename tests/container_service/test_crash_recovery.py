"""A fault test: kill -9 the sandbox server while a job runs and start it again at once.

The restart is not refused (the port is bound with SO_REUSEADDR, as uvicorn does); start-up
(`ContainerService.recover`) marks the container that was running `Failed` (its workflow
too), revokes its alias token, and kills what is left of its process group, which the process
backend started in a session of its own and which survived the server. A real XNAT keeps its
Docker containers through a restart and reads their events again (`ContainerServiceImpl
.processEvent`); the sandbox's jobs are its own processes, which die with no one to finalize
them, so it fails them instead of leaving them `Running` forever.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.container_service.sandbox_data import (
    TINY_WRAPPER,
    add_ct_session,
    installed_admin,
    make_project,
    wait_until,
)
from tests.sandbox.served import archive_disagreements
from xnat_plugin.admin import Xapi, launch
from xnat_plugin.admin.workflows import read_workflow
from xnat_plugin.sandbox.cli import PASSWORD_ENV
from xnat_plugin.sandbox.container_service.orphans import group_members
from xnat_plugin.sandbox.container_service.service import CONTAINER_LOST

SLEEP_MARK = "97.25"  # a sleep no other test uses: finds the job's processes


class Server:
    def __init__(self, url: str) -> None:
        self.url, self.user, self.password = url, "admin", "admin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/data/auth", auth=("admin", "admin"), timeout=2).ok
    except requests.ConnectionError:
        return False


@contextmanager
def _serve(data_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    command = Path(sys.executable).parent / "xnat-monai"
    process = subprocess.Popen(
        [str(command), "sandbox", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=(data_dir.parent / f"server-{time.monotonic_ns()}.log").open("wb"),
        start_new_session=True,
        env={**os.environ, PASSWORD_ENV: "admin"},  # how a site passes the admin's password
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _job_environment(pid: int) -> dict[str, str]:
    return dict(
        item.split("=", 1)
        for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
        if "=" in item
    )


def _job_credentials(pid: int) -> tuple[str, str]:
    """The alias token a job was given (XNAT_USER, XNAT_PASS in its environment)."""
    environ = _job_environment(pid)
    return environ["XNAT_USER"], environ["XNAT_PASS"]


def _job_processes() -> list[tuple[int, int]]:
    """(pid, process group) of the test job's processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "tiny_step.py" in cmdline and SLEEP_MARK in cmdline:
            found.append((int(entry.name), os.getpgid(int(entry.name))))
    return found


@pytest.mark.slow
def test_a_server_killed_during_a_job_restarts_at_once_and_fails_the_job_cleanly(
    tmp_path: Path,
) -> None:
    data_dir, port = tmp_path / "xnat", _free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir.mkdir()
    with _serve(data_dir, port) as first:
        wait_until(lambda: _answers(url), timeout=60)
        server = Server(url)
        make_project(server, "LIVER")
        session_id = add_ct_session(server, "LIVER", 1)
        xapi = installed_admin(server, tmp_path, ["LIVER"])
        launched = launch(
            xapi, "LIVER", TINY_WRAPPER, f"/experiments/{session_id}", {"sleep-seconds": SLEEP_MARK}
        )
        container = wait_until(lambda: read_workflow(xapi, launched.workflow_id).container_id, 60)
        wait_until(
            lambda: (
                xapi.get_json(f"/xapi/containers/{container}", what="read")["status"] == "Running"
            ),
            timeout=60,
        )
        jobs = wait_until(_job_processes, timeout=30)
        token = _job_credentials(jobs[0][0])
        assert PASSWORD_ENV not in _job_environment(jobs[0][0])  # the server's secret stays
        assert requests.get(f"{url}/data/auth", auth=token, timeout=10).ok  # alive until now
        xapi.close()
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    groups = {group for _, group in jobs}
    assert all(group_members(group, None) for group in groups)  # the job outlived its server

    killed_at = time.monotonic()
    with _serve(data_dir, port) as second:
        wait_until(lambda: _answers(url), timeout=30)
        restarted_in = time.monotonic() - killed_at
        assert second.poll() is None
        with Xapi(url, "admin", "admin") as xapi:
            record = xapi.get_json(f"/xapi/containers/{container}", what="read")
            workflow = read_workflow(xapi, launched.workflow_id)
        token_answer = requests.get(f"{url}/data/auth", auth=token, timeout=10).status_code
    with sqlite3.connect(data_dir / "sandbox.db") as db:
        tokens = db.execute("SELECT COUNT(*) FROM alias_tokens").fetchone()[0]

    assert restarted_in < 20, restarted_in
    assert record["status"] == "Failed"
    assert record["history"][-1]["message"] == CONTAINER_LOST
    assert (workflow.status, workflow.details) == ("Failed", CONTAINER_LOST)
    assert tokens == 0
    assert token_answer == 401  # the job's own credentials no longer let anyone in
    assert archive_disagreements(data_dir) == []  # archive and catalogue agree file for file
    assert _job_processes() == []
    assert all(group_members(group, None) == [] for group in groups)
