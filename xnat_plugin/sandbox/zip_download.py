"""`…/files?format=zip`: a zip streamed while it is built, never held in memory or on disk.

Entries are named like XNAT's: `<session>/scans/<scan>/resources/<label>/files/<path>`.
"""

from __future__ import annotations

import re
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from fastapi import Response
from fastapi.responses import StreamingResponse

from xnat_plugin.sandbox import archive
from xnat_plugin.sandbox.db import Database
from xnat_plugin.sandbox.resolve import Resolved

CHUNK = 1024 * 1024
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._ -]+")


def _zip_prefix(found: Resolved, resource: sqlite3.Row) -> str:
    assert found.project is not None
    owner: str = resource["owner"]
    if found.experiment is None:
        top = found.subject["label"] if found.subject is not None else found.project["id"]
        return f"{top}/resources/{resource['label']}/files"
    top = found.experiment["label"]
    if owner.startswith("scan:"):
        scan_id = owner.partition("/")[2]
        return f"{top}/scans/{scan_id}/resources/{resource['label']}/files"
    if found.assessor is not None:
        return f"{top}/assessors/{found.assessor['label']}/resources/{resource['label']}/files"
    return f"{top}/resources/{resource['label']}/files"


class _Pipe:
    """A write-only file object whose bytes the zip stream hands out as it goes."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.chunks = b"".join(self.chunks), []
        return data


def zip_response(
    db: Database, data_dir: Path, found: Resolved, resources: list[sqlite3.Row]
) -> Response:
    """The files of `resources` as one zip, built while it is sent (stored, not deflated)."""
    entries: list[tuple[Path, str]] = []
    for resource in resources:
        prefix = _zip_prefix(found, resource)
        for f in db.query(
            "SELECT path FROM files WHERE resource_id = ? ORDER BY path", (resource["id"],)
        ):
            source = archive.archive_path(data_dir, resource["directory"], f["path"])
            entries.append((source, f"{prefix}/{f['path']}"))

    def stream() -> Iterator[bytes]:
        pipe = _Pipe()
        # Stored, not deflated: DICOM barely compresses and the copy stays I/O-bound.
        with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:  # type: ignore[call-overload]
            for source, name in entries:
                with source.open("rb") as src, zf.open(name, "w", force_zip64=True) as dst:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
                        yield pipe.take()
                yield pipe.take()
        yield pipe.take()

    name = (found.experiment["label"] if found.experiment is not None else "files") + ".zip"
    return StreamingResponse(
        stream(), media_type="application/zip", headers={"Content-Disposition": attachment(name)}
    )


def attachment(name: str) -> str:
    """A Content-Disposition header for `name` that no name can break: a plain quoted name when
    it is safe ASCII, else RFC 6266's `filename*` (percent-encoded UTF-8) beside an ASCII
    fallback. A CR or LF in a header would end it early."""
    if _PLAIN_NAME.fullmatch(name):
        return f'attachment; filename="{name}"'
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
