"""A sandbox as users run it (`xnat-monai sandbox serve` in its own process), for tests that
kill it or load it, and the check that its archive and catalogue agree file for file."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from xnat_plugin.sandbox.server import bound_socket

USER, PASSWORD = "admin", "served-pw"


def free_port() -> int:
    with bound_socket(0) as sock:
        return int(sock.getsockname()[1])


@dataclass
class ServedSandbox:
    """`sandbox serve` on 127.0.0.1:`port` over `data_dir`; start, kill -9, start again."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    user: str = USER
    password: str = PASSWORD

    @property
    def log(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> float:
        """Start and wait until it answers; returns the seconds that took."""
        command = [sys.executable, "-m", "xnat_plugin.cli", "sandbox", "serve"]
        command += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        env = {**os.environ, "XNAT_MONAI_SANDBOX_PASSWORD": self.password}
        began = time.monotonic()
        # A file, not a pipe: a pipe nobody reads would stop a server that logs a lot.
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env)
        while time.monotonic() - began < timeout:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"sandbox serve exited {self.process.returncode}: {self.log.read_text()}"
                )
            try:
                if requests.get(
                    f"{self.url}/xapi/siteConfig/buildInfo", auth=(USER, PASSWORD), timeout=10
                ).ok:
                    return time.monotonic() - began
            except requests.RequestException:
                time.sleep(0.1)
        self.kill()
        raise AssertionError(f"sandbox serve did not answer within {timeout} s")

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def http(self) -> requests.Session:
        session = requests.Session()
        session.auth = (USER, PASSWORD)
        return session


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def catalogued_files(data_dir: Path) -> dict[str, tuple[int, str]]:
    """Every file the catalogue lists: archive-relative path → (size, MD5)."""
    with sqlite3.connect(data_dir / "sandbox.db") as conn:
        rows = conn.execute(
            "SELECT r.directory, f.path, f.size, f.digest FROM files f "
            "JOIN resources r ON r.id = f.resource_id"
        ).fetchall()
    return {f"{directory}/{path}": (size, digest) for directory, path, size, digest in rows}


def archive_disagreements(data_dir: Path) -> list[str]:
    """Where the archive folder and the catalogue differ: a catalogued file missing or with
    another size or MD5, a file on disk that no row lists, a pending journal step."""
    root = data_dir / "archive"
    listed = catalogued_files(data_dir)
    on_disk = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
    problems = [f"on disk, not catalogued: {name}" for name in sorted(set(on_disk) - set(listed))]
    for name, (size, digest) in sorted(listed.items()):
        path = on_disk.get(name)
        if path is None:
            problems.append(f"catalogued, not on disk: {name}")
        elif path.stat().st_size != size or md5_of(path) != digest:
            problems.append(f"catalogued with another size or MD5: {name}")
    with sqlite3.connect(data_dir / "sandbox.db") as conn:
        steps = conn.execute("SELECT action, source FROM archive_journal").fetchall()
    # finished moves may stay in the journal until the next change: their source is gone
    pending = sum(1 for action, source in steps if (data_dir / source).exists())
    if pending:
        problems.append(f"{pending} archive change(s) still pending")
    return problems
