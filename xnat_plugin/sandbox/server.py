"""Run the sandbox: `running_sandbox(...)` (uvicorn in a thread, for tests and the demo) and
`serve(...)` (in the foreground, for `xnat-monai sandbox serve`)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.app import create_app

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


@dataclass(frozen=True)
class SandboxServer:
    url: str
    user: str
    password: str
    data_dir: Path


def bound_socket(port: int) -> socket.socket:
    """A socket bound to HOST:`port` (0: a free one) for uvicorn to listen on once the app has
    started (until then a client is refused, not left waiting). SO_REUSEADDR lets a server
    restarted right after a crash bind while the dead one's connections linger in TIME_WAIT
    (otherwise refused for about a minute); a port another server listens on is still refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    return sock


def _config(data_dir: Path, port: int, user: str, password: str, workers: int) -> uvicorn.Config:
    app = create_app(
        data_dir,
        user=user,
        password=password,
        container_workers=workers,
        base_url=f"http://{HOST}:{port}",
    )
    return uvicorn.Config(
        app,
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=30,
        # The C parser (pinned in pyproject), not the pure-Python h11 that "auto" may fall back
        # to: parsing costs per received chunk of every upload.
        http="httptools",
    )


@contextmanager
def running_sandbox(
    data_dir: Path,
    *,
    port: int = 0,
    user: str = "admin",
    password: str = "admin",
    workers: int = 1,
) -> Iterator[SandboxServer]:
    """A sandbox XNAT on 127.0.0.1 (a free port when 0), served from a thread until the block
    ends. `data_dir` keeps everything; reopening it later gives the same content. `workers` is
    the size of the Container Service's worker pool (one HTTP server process either way)."""
    data_dir = Path(data_dir)
    try:
        sock = bound_socket(port)
    except OSError as exc:
        raise UserError(f"the sandbox could not listen on {HOST}:{port} ({exc})") from exc
    chosen = int(sock.getsockname()[1])
    try:
        server = uvicorn.Server(_config(data_dir, chosen, user, password, workers))
    except BaseException:
        sock.close()
        raise
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{chosen}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise UserError(f"the sandbox could not start on {HOST}:{chosen}: is the port in use?")
        time.sleep(0.02)
    url = f"http://{HOST}:{chosen}"
    log.info("sandbox XNAT at %s (data in %s)", url, data_dir)
    try:
        yield SandboxServer(url=url, user=user, password=password, data_dir=data_dir)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def serve(data_dir: Path, *, port: int, user: str, password: str) -> None:
    """Serve in the foreground until interrupted."""
    try:
        sock = bound_socket(port)
    except OSError as exc:
        raise UserError(f"port {port} on {HOST} is not free ({exc}); pick another --port") from exc
    try:
        server = uvicorn.Server(_config(data_dir, port, user, password, 1))
    except BaseException:
        sock.close()
        raise
    log.info("sandbox XNAT at http://%s:%d (data in %s); Ctrl-C stops it", HOST, port, data_dir)
    server.run(sockets=[sock])
