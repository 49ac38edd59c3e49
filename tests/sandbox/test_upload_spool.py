"""Request bodies spooled to disk with their MD5 in one pass, a batch at a time."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from xnat_plugin.sandbox.upload_spool import BATCH_BYTES, BATCH_CHUNKS, spool_chunks


async def _chunks(parts: list[bytes], fail_after: int | None = None) -> AsyncIterator[bytes]:
    for i, part in enumerate(parts):
        if fail_after is not None and i == fail_after:
            raise ConnectionError("client went away")
        yield part


def test_a_body_of_many_batches_lands_whole_with_its_md5_and_size(tmp_path: Path) -> None:
    parts = [os.urandom(size) for size in (1, 70_000, BATCH_BYTES, 3, BATCH_BYTES + 17, 0, 9)]
    spooled = asyncio.run(spool_chunks(_chunks(parts), tmp_path / "spool"))
    assert spooled is not None
    body = b"".join(parts)
    assert spooled.path.read_bytes() == body
    assert spooled.size == len(body)
    assert spooled.md5 == hashlib.md5(body).hexdigest()


def test_more_tiny_chunks_than_writev_takes_at_once_are_all_written(tmp_path: Path) -> None:
    parts = [bytes([i % 256]) for i in range(BATCH_CHUNKS * 5 + 3)]
    spooled = asyncio.run(spool_chunks(_chunks(parts), tmp_path))
    assert spooled is not None
    assert spooled.path.read_bytes() == b"".join(parts)


def test_an_empty_body_leaves_no_file_unless_asked_to_keep_it(tmp_path: Path) -> None:
    assert asyncio.run(spool_chunks(_chunks([b""]), tmp_path)) is None
    assert list(tmp_path.iterdir()) == []
    kept = asyncio.run(spool_chunks(_chunks([]), tmp_path, keep_empty=True))
    assert kept is not None
    assert kept.size == 0 and kept.path.read_bytes() == b""
    assert kept.md5 == hashlib.md5(b"").hexdigest()


def test_a_body_cut_off_midway_leaves_no_spool_file(tmp_path: Path) -> None:
    parts = [os.urandom(BATCH_BYTES)] * 4
    with pytest.raises(ConnectionError):
        asyncio.run(spool_chunks(_chunks(parts, fail_after=3), tmp_path))
    assert list(tmp_path.iterdir()) == []
