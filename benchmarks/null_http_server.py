"""`python -m benchmarks.null_http_server PORT`: an HTTP/1.1 server that does no work.

A PUT's body is read and dropped; `GET /<n>` answers n MB of bytes already in memory. The
transfer benchmark drives it with the same HTTP client as xnatpy, to show how fast the client
alone can go: the ceiling for any server, in the same run as the measurement.
"""

from __future__ import annotations

import socket
import sys
import threading

MB = 1024 * 1024
_BLOCK = bytes(MB)


def _read_head(conn: socket.socket, pending: bytes) -> tuple[bytes, bytes] | None:
    while b"\r\n\r\n" not in pending:
        data = conn.recv(65536)
        if not data:
            return None
        pending += data
    head, _, rest = pending.partition(b"\r\n\r\n")
    return head, rest


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _serve(conn: socket.socket) -> None:
    sink = memoryview(bytearray(MB))
    pending = b""
    with conn:
        while (got := _read_head(conn, pending)) is not None:
            head, pending = got
            left = _content_length(head) - len(pending)
            pending = b"" if left >= 0 else pending[len(pending) + left :]
            while left > 0:
                n = conn.recv_into(sink, min(left, MB))
                if not n:
                    return
                left -= n
            method, target = head.split(b" ", 2)[:2]
            megabytes = int(target.strip(b"/") or 0) if method == b"GET" else 0
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (megabytes * MB))
            for _ in range(megabytes):
                conn.sendall(_BLOCK)


def main(port: int) -> None:
    with socket.create_server(("127.0.0.1", port)) as server:
        while True:
            conn, _ = server.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=_serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main(int(sys.argv[1]))
