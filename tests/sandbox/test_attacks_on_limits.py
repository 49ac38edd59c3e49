"""Bodies and zips that would fill the disk: authorised before a byte is read, bounded at the
edge (413), and zips bounded by what they declare before anything inflates.

XNAT itself answers a request it refuses before reading the body (Tomcat hands the servlet the
stream; `SecureResource` checks access first) and has no decompression bomb of its own to
guard; the sandbox's limits are its own, each with a default and an environment variable
(`xnat_plugin.sandbox.limits`).
"""

from __future__ import annotations

import base64
import io
import select
import socket
import struct
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from tests.sandbox.attack_helpers import (
    ATTACKER,
    ATTACKER_SESSION,
    VICTIM_SESSION,
    Stage,
    build_stage,
    files_on_disk,
    new_files_outside_archive,
    victim_files_intact,
)
from xnat_plugin.sandbox.limits import Limits, parse_size
from xnat_plugin.sandbox.server import running_sandbox

MiB = 1024 * 1024
WITHIN = 3 * MiB + MiB // 2  # under the 4 MiB upload limit these tests run with


@pytest.fixture
def stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stage]:
    # Small limits, so the tests need not send gigabytes to pass them.
    monkeypatch.setenv("XNAT_MONAI_SANDBOX_MAX_UPLOAD", "4M")
    monkeypatch.setenv("XNAT_MONAI_SANDBOX_MAX_DOCUMENT", "64K")
    monkeypatch.setenv("XNAT_MONAI_SANDBOX_MAX_ZIP_MEMBERS", "20")
    with running_sandbox(tmp_path / "xnat") as server:
        yield build_stage(server)


def _spooled(stage: Stage) -> list[Path]:
    return [p for p in (stage.server.data_dir / "spool").glob("**/*") if p.is_file()]


def _read_answer(sock: socket.socket) -> bytes:
    """The status line, headers and as much of the body as Content-Length says (or until the
    server closes or resets)."""
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                return answer
            answer += data
        head, _, body = answer.partition(b"\r\n\r\n")
        lengths = [
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ]
        while lengths and len(body) < lengths[0]:
            data = sock.recv(65536)
            if not data:
                break
            body += data
        return head + b"\r\n\r\n" + body
    except (ConnectionResetError, TimeoutError):
        return answer


def send_head_then_body(
    stage: Stage,
    method: str,
    path: str,
    declared: int,
    sent: int,
    auth: tuple[str, str] | None = ("mallory", "mallory-pw"),
) -> tuple[int, str, list[Path]]:
    """Declare `declared` bytes, send `sent` of them, and read the answer (timing out if the
    server waits for the rest). Returns (status, body, files in the spool meanwhile)."""
    url = urlparse(stage.url)
    head = [f"{method} {path} HTTP/1.1", f"Host: {url.netloc}", f"Content-Length: {declared}"]
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        head.append(f"Authorization: Basic {token}")
    with socket.create_connection((url.hostname, url.port), timeout=15) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        # A server that refuses on the head alone answers before any body byte: read that answer
        # first, or the body sent meanwhile makes its close a reset that can drop the answer.
        answered = select.select([sock], [], [], 2.0)[0]
        chunk = b"\0" * MiB
        try:
            for _ in range(0 if answered else sent // MiB):
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer is waiting
        time.sleep(0.2)
        spooled = _spooled(stage)
        answer = _read_answer(sock)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1") else 0
    return status, answer.split(b"\r\n\r\n", 1)[-1].decode("utf-8", "replace"), spooled


def test_an_upload_to_a_project_the_caller_may_not_write_is_refused_before_its_body(
    stage: Stage,
) -> None:
    """3.5 MiB declared (within the limit), 2 MiB sent: the 403 comes without waiting for the
    rest, and nothing is spooled (it used to spool a whole GiB, then answer 403)."""
    before = files_on_disk(stage.outside)
    status, text, spooled = send_head_then_body(
        stage, "PUT", f"{VICTIM_SESSION}/resources/NOTES/files/big.bin", WITHIN, 2 * MiB
    )
    assert status == 403, text
    assert spooled == []
    assert new_files_outside_archive(stage, before) == []
    assert victim_files_intact(stage)


def test_an_import_into_a_project_the_caller_may_not_write_is_refused_before_its_body(
    stage: Stage,
) -> None:
    status, text, spooled = send_head_then_body(
        stage, "POST", "/data/services/import?PROJECT_ID=VICTIM", WITHIN, 2 * MiB
    )
    assert status == 403, text
    assert spooled == []


def test_an_upload_under_a_missing_parent_is_refused_before_its_body(stage: Stage) -> None:
    status, _, spooled = send_head_then_body(
        stage,
        "PUT",
        f"/data/projects/{ATTACKER}/subjects/nobody/experiments/x/resources/R/files/a",
        WITHIN,
        2 * MiB,
    )
    assert status == 404 and spooled == []


def test_a_body_declared_over_the_upload_limit_is_refused_unread(stage: Stage) -> None:
    status, text, spooled = send_head_then_body(
        stage, "PUT", f"{ATTACKER_SESSION}/resources/NOTES/files/big.bin", 1024**3, 2 * MiB
    )
    assert status == 413, text
    assert "over this server's limit of 4 MiB" in text and "MAX_UPLOAD" in text
    assert spooled == []


def test_a_chunked_body_past_the_upload_limit_is_cut_off_and_leaves_nothing(
    stage: Stage,
) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(6):
            yield b"\1" * MiB

    uri = f"{stage.url}{ATTACKER_SESSION}/resources/NOTES/files/big.bin"
    try:
        answer = stage.attacker.put(uri, data=body(), timeout=30)
        assert answer.status_code == 413, answer.text
    except requests.ConnectionError:
        pass  # the server may close before the client has read its answer
    assert stage.attacker.get(uri).status_code == 404
    assert _spooled(stage) == []
    within = stage.attacker.put(uri, data=b"\1" * (3 * MiB))
    assert within.status_code == 200  # a body within the limit still arrives


def test_a_login_form_is_a_document_and_bounded_as_one(stage: Stage) -> None:
    """`/data/services/auth` reads its body before knowing who is calling: 64 KiB here."""
    status, text, _ = send_head_then_body(stage, "POST", "/data/services/auth", 32 * MiB, MiB, None)
    assert status == 413 and "MAX_DOCUMENT" in text


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A zip of well under a MiB that declares (and inflates to) 900 MiB of zeros."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    zeros = bytes(MiB)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("zeros.dcm", "w", force_zip64=True) as member,
    ):
        for _ in range(900):
            member.write(zeros)
    data = path.read_bytes()
    assert len(data) < MiB
    return data


def test_a_decompression_bomb_upload_is_refused_before_it_inflates(
    stage: Stage, bomb: bytes
) -> None:
    before = files_on_disk(stage.outside)
    answer = stage.attacker.put(
        f"{stage.url}{ATTACKER_SESSION}/resources/BOMB/files/b.zip",
        params={"extract": "true"},
        data=bomb,
    )
    assert answer.status_code == 413, answer.text
    assert "decompression bomb" in answer.text
    assert new_files_outside_archive(stage, before) == []
    assert _spooled(stage) == []


def test_a_decompression_bomb_import_is_refused_before_it_inflates(
    stage: Stage, bomb: bytes
) -> None:
    answer = stage.attacker.post(
        f"{stage.url}/data/services/import",
        params={"PROJECT_ID": ATTACKER},
        data=bomb,
        headers={"Content-Type": "application/zip"},
    )
    assert answer.status_code == 413, answer.text
    assert "decompression bomb" in answer.text
    assert _spooled(stage) == []


def _forged(declared: int, actual: bytes) -> bytes:
    """A stored zip whose headers say the member has `declared` bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("m.txt", actual)
    data = bytearray(buffer.getvalue())
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, declared)
    struct.pack_into("<I", data, central + 24, declared)
    return bytes(data)


def test_a_member_larger_than_it_declares_is_refused_whole(stage: Stage) -> None:
    answer = stage.attacker.put(
        f"{stage.url}{ATTACKER_SESSION}/resources/FORGED/files/f.zip",
        params={"extract": "true"},
        data=_forged(10, b"x" * 5000),
    )
    assert answer.status_code == 400, answer.text
    assert "damaged or forged" in answer.text
    assert not (
        stage.server.data_dir / "archive" / ATTACKER / "arc001" / "m1_CT" / "RESOURCES" / "FORGED"
    ).exists()


def test_a_zip_of_too_many_members_is_refused(stage: Stage) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i in range(21):
            zf.writestr(f"{i}.txt", b"x")
    answer = stage.attacker.put(
        f"{stage.url}{ATTACKER_SESSION}/resources/MANY/files/m.zip",
        params={"extract": "true"},
        data=buffer.getvalue(),
    )
    assert answer.status_code == 413
    assert "MAX_ZIP_MEMBERS" in answer.text


def test_limits_come_from_the_environment_with_units() -> None:
    limits = Limits.from_environment(
        {"XNAT_MONAI_SANDBOX_MAX_UPLOAD": "2G", "XNAT_MONAI_SANDBOX_MAX_ZIP_RATIO": "50"}
    )
    assert (limits.max_upload, limits.max_zip_ratio) == (2 * 1024**3, 50)
    assert limits.max_document == Limits().max_document
    assert parse_size("512M", "x") == 512 * MiB
    with pytest.raises(Exception, match="is not a size"):
        parse_size("lots", "XNAT_MONAI_SANDBOX_MAX_UPLOAD")
