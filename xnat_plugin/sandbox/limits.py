"""How much a request may send and a zip may inflate to, checked at the edge.

`BodyLimit` is the outermost ASGI layer: a body declared larger than its limit is answered
413 before a byte of it is read, and one that turns out larger (chunked, or lying about its
length) is cut off at the limit. Uploads (`PUT`/`POST` under `/data` and `/REST`, the import
service included) may be large; every other body (a login form, JSON to `/xapi`) is a document
and small. Zips are bounded by what their directory declares before anything is inflated
(`check_zip`), and each member by its declared size while it inflates (`inflate_member`).

Every limit has a default and an environment variable (sizes in bytes, or with K/M/G/T):

| variable | default | bounds |
|---|---|---|
| `XNAT_MONAI_SANDBOX_MAX_UPLOAD` | 8G | one upload or import body |
| `XNAT_MONAI_SANDBOX_MAX_DOCUMENT` | 16M | any other request body |
| `XNAT_MONAI_SANDBOX_MAX_INFLATED` | 8G | everything one zip inflates to |
| `XNAT_MONAI_SANDBOX_MAX_ZIP_RATIO` | 100 | inflated size over the zip's size, once past 64M |
| `XNAT_MONAI_SANDBOX_MAX_ZIP_MEMBERS` | 100000 | files in one zip |
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.safe_paths import Refused

TOO_LARGE = 413
# Below this many inflated bytes a zip's compression ratio is not held against it.
RATIO_FLOOR_BYTES = 64 * 1024**2
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_ENV = "XNAT_MONAI_SANDBOX_"
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_upload: int = 8 * 1024**3
    max_document: int = 16 * 1024**2
    max_inflated: int = 8 * 1024**3
    max_zip_ratio: int = 100
    max_zip_members: int = 100_000

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Limits:
        """The defaults, with any `XNAT_MONAI_SANDBOX_MAX_*` variable that is set."""
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for name, variable in (
            ("max_upload", "MAX_UPLOAD"),
            ("max_document", "MAX_DOCUMENT"),
            ("max_inflated", "MAX_INFLATED"),
            ("max_zip_ratio", "MAX_ZIP_RATIO"),
            ("max_zip_members", "MAX_ZIP_MEMBERS"),
        ):
            text = env.get(_ENV + variable, "").strip()
            if text:
                values[name] = parse_size(text, _ENV + variable)
        return cls(**values)


def parse_size(text: str, where: str) -> int:
    """`8G`, `512M`, `1048576` → bytes (binary units)."""
    match = re.fullmatch(r"(\d+)\s*([KMGT]?)i?B?", text.strip(), re.IGNORECASE)
    if match is None or int(match.group(1)) <= 0:
        raise UserError(f"{where}={text!r} is not a size: write a positive number like 8G or 512M")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def is_upload(method: str, path: str) -> bool:
    """Bodies that may be large: uploads and imports under /data and /REST (not the login)."""
    if method not in ("PUT", "POST"):
        return False
    top, _, rest = path.lstrip("/").partition("/")
    return top in ("data", "REST") and not rest.startswith("services/auth")


def _size_text(size: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if size >= _UNITS[unit] and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]} {unit}iB"
    return f"{size} bytes"


def too_large(what: str, size: int | None, limit: int, variable: str) -> Refused:
    told = f" of {size} bytes" if size is not None else ""
    return Refused(
        f"{what}{told} is over this server's limit of {_size_text(limit)} ({_ENV}{variable}); "
        "send less, or ask the administrator to raise the limit",
        TOO_LARGE,
    )


class BodyTooLarge(HTTPException):
    """The body went past its limit while being read: answered 413 by the app's handler for
    HTTP errors, wherever the reading was."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(TOO_LARGE, str(refused), headers={"Connection": "close"})


class BodyLimit:
    """ASGI middleware: 413 for a body over its limit, before reading it or as soon as it
    passes the limit."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        upload = is_upload(scope["method"], scope["path"])
        limit = self.limits.max_upload if upload else self.limits.max_document
        variable = "MAX_UPLOAD" if upload else "MAX_DOCUMENT"
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(send, too_large("the request body", declared, limit, variable))
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(too_large("the request body", None, limit, variable))
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:  # raised where no handler answered it
            if started:
                raise
            await _answer(send, Refused(str(exc.detail), TOO_LARGE))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer(send: Send, refused: Refused) -> None:
    body = str(refused).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                # the rest of the body is not read: the connection cannot be reused
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def check_zip(archive: zipfile.ZipFile, zip_size: int, limits: Limits) -> list[zipfile.ZipInfo]:
    """The zip's file members, once what its directory declares is within the limits: how
    many, how much in all, and (past 64 MiB) how many times the zip's own size."""
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) > limits.max_zip_members:
        raise Refused(
            f"the zip holds {len(members)} files, over this server's limit of "
            f"{limits.max_zip_members} ({_ENV}MAX_ZIP_MEMBERS); send fewer per request",
            TOO_LARGE,
        )
    inflated = sum(info.file_size for info in members)
    if inflated > limits.max_inflated:
        raise too_large("the zip's content", inflated, limits.max_inflated, "MAX_INFLATED")
    if inflated > RATIO_FLOOR_BYTES and inflated > limits.max_zip_ratio * max(zip_size, 1):
        raise Refused(
            f"the zip of {zip_size} bytes would inflate to {inflated} bytes, more than "
            f"{limits.max_zip_ratio} times its size ({_ENV}MAX_ZIP_RATIO): refused as a "
            "decompression bomb; send the files uncompressed or in smaller zips",
            TOO_LARGE,
        )
    return members


def inflate_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: BinaryIO, digest: bool = False
) -> str:
    """Inflate one member into `target`, never past its declared size; returns its MD5 (hex)
    when `digest`, else an empty string."""
    md5 = hashlib.md5() if digest else None
    written = 0
    try:
        with archive.open(info) as source:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > info.file_size:
                    raise zipfile.BadZipFile(f"more than its declared {info.file_size} bytes")
                if md5 is not None:
                    md5.update(chunk)
                target.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise Refused(
            f"zip member {info.filename!r} is damaged or forged ({exc}); send an intact zip",
            400,
        ) from exc
    return md5.hexdigest() if md5 is not None else ""
