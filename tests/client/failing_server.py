"""A tiny local HTTP server that fails the first N requests with a chosen status."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Script:
    fail_first: int = 0
    fail_status: int = 503
    status: int = 200
    answer: object = field(default_factory=lambda: {"ResultSet": {"Result": []}})
    requests: list[tuple[str, str, bytes, str]] = field(default_factory=list)


@contextmanager
def failing_server(script: Script) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            script.requests.append(
                (self.command, self.path, body, self.headers.get("Authorization", ""))
            )
            if len(script.requests) <= script.fail_first:
                status, payload = script.fail_status, b"busy, try later"
            else:
                status, payload = script.status, json.dumps(script.answer).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
