"""Moving files: a resource to a local folder (zip or file by file) and a local folder to a
resource, each file checked against the MD5 `digest` XNAT records for it.

Uploads retry transient failures (see `RetryPolicy`) and re-send a file whose digest does not
match once; a second mismatch is an error, never a silently corrupt archive.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from rich.progress import Progress

from xnat_plugin.client import paths
from xnat_plugin.client.browse import FileInfo, list_files
from xnat_plugin.client.connection import XnatClient
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_resource(client: XnatClient, owner_path: str, label: str, **params: str) -> None:
    """Create resource `label` on the object (nothing happens if it is already there)."""
    if client.exists(paths.resource(owner_path, label)):
        return
    client.put(paths.resource(owner_path, label), params)


def upload_file(
    client: XnatClient, owner_path: str, label: str, relative_path: str, file: Path
) -> None:
    """Put one file at `relative_path` in the resource, replacing a file already there."""
    client.put(
        paths.resource_file(owner_path, label, relative_path),
        {"inbody": "true", "overwrite": "true"},
        body=file,
        headers={"Content-Type": "application/octet-stream"},
    )


def upload_folder(
    client: XnatClient,
    owner_path: str,
    label: str,
    folder: Path,
    *,
    show_progress: bool = True,
    resource_params: Mapping[str, str] | None = None,
) -> list[FileInfo]:
    """Upload every file under `folder` (sub-folders kept) to resource `label`, checked by MD5.

    `resource_params` (e.g. `format=DICOM`, `content=RAW`) describe a resource that is created.
    Returns XNAT's listing of the resource afterwards.
    """
    folder = Path(folder)
    local = sorted(p for p in folder.rglob("*") if p.is_file())
    if not local:
        raise UserError(f"nothing to upload: {folder} holds no files")
    ensure_resource(client, owner_path, label, **(resource_params or {}))
    expected = {p.relative_to(folder).as_posix(): p for p in local}
    with Progress(disable=not show_progress, transient=True) as progress:
        task = progress.add_task(f"upload {label}", total=len(expected))
        for relative, file in expected.items():
            upload_file(client, owner_path, label, relative, file)
            progress.advance(task)
    remote = _verify(client, owner_path, label, expected, resend=True)
    log.info("uploaded %d files to %s resource %s", len(expected), owner_path, label)
    return remote


def _verify(
    client: XnatClient, owner_path: str, label: str, expected: dict[str, Path], *, resend: bool
) -> list[FileInfo]:
    remote = list_files(client, owner_path, label)
    by_path = {f.path: f for f in remote}
    wrong = [rel for rel, file in expected.items() if not _matches(by_path.get(rel), file)]
    if not wrong:
        return remote
    if resend:
        log.warning("%d files in %s arrived damaged or missing; sending again", len(wrong), label)
        for relative in wrong:
            upload_file(client, owner_path, label, relative, expected[relative])
        return _verify(client, owner_path, label, {r: expected[r] for r in wrong}, resend=False)
    raise UserError(
        f"upload to {owner_path} resource {label} failed its checksum for {wrong[0]} "
        f"(and {len(wrong) - 1} more) twice: check the server's disk and network, then run again"
    )


def _matches(remote: FileInfo | None, local: Path) -> bool:
    if remote is None:
        return False
    if remote.digest:
        return remote.digest.lower() == md5_of(local)
    # An XNAT that has not computed digests still reports the size.
    return remote.size is None or remote.size == local.stat().st_size


def download_resource(
    client: XnatClient,
    owner_path: str,
    label: str,
    destination: Path,
    *,
    as_zip: bool = True,
    show_progress: bool = True,
) -> list[Path]:
    """Files of resource `label` into `destination` (paths inside the resource kept).

    `as_zip` fetches one zip streamed to disk and extracts it; otherwise file by file. Either
    way, every file is checked against the listing's digest (or size).
    """
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    listing = list_files(client, owner_path, label)
    if not listing:
        raise UserError(f"resource {label} of {owner_path} holds no files: nothing to download")
    if as_zip:
        written = _download_zip(client, owner_path, label, destination)
    else:
        written = _download_each(client, listing, destination, show_progress)
    for remote in listing:
        local = destination / remote.path
        if not local.is_file() or not _matches(remote, local):
            raise UserError(f"download of {remote.uri} is damaged or missing (checksum): run again")
    log.info("downloaded %d files of %s resource %s", len(written), owner_path, label)
    return written


def download_file(client: XnatClient, uri: str, target: Path) -> Path:
    """One file by its XNAT URI, streamed to `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    response = client.request("GET", paths.normalize_uri(uri), stream=True)
    partial = target.with_name(target.name + ".part")
    with response, partial.open("wb") as handle:
        for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
            handle.write(chunk)
    partial.replace(target)
    return target


def _download_each(
    client: XnatClient, listing: list[FileInfo], destination: Path, show_progress: bool
) -> list[Path]:
    written = []
    with Progress(disable=not show_progress, transient=True) as progress:
        task = progress.add_task("download", total=len(listing))
        for remote in listing:
            written.append(download_file(client, remote.uri, _inside(destination, remote.path)))
            progress.advance(task)
    return written


def _download_zip(client: XnatClient, owner_path: str, label: str, destination: Path) -> list[Path]:
    with tempfile.TemporaryDirectory(dir=destination, prefix=".download-") as scratch:
        archive = Path(scratch) / f"{label}.zip"
        response = client.request(
            "GET", paths.resource_files(owner_path, label), params={"format": "zip"}, stream=True
        )
        with response, archive.open("wb") as handle:
            for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
                handle.write(chunk)
        written = []
        try:
            with zipfile.ZipFile(archive) as bundle:
                for member in bundle.infolist():
                    if member.is_dir():
                        continue
                    relative = _path_inside_resource(member.filename)
                    target = _inside(destination, relative)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with bundle.open(member) as source, target.open("wb") as sink:
                        shutil.copyfileobj(source, sink, CHUNK_BYTES)
                    written.append(target)
        except zipfile.BadZipFile as exc:
            raise UserError(
                f"XNAT sent a damaged zip for {owner_path} resource {label}: run again"
            ) from exc
    return written


def _path_inside_resource(member: str) -> str:
    """XNAT zips hold `<session>/scans/1/resources/DICOM/files/<path>`: keep `<path>`."""
    parts = PurePosixPath(member).parts
    for index in range(len(parts) - 3):
        if parts[index] == "resources" and parts[index + 2] == "files":
            return "/".join(parts[index + 3 :])
    return "/".join(parts)


def _inside(destination: Path, relative: str) -> Path:
    target = (destination / relative).resolve()
    if not target.is_relative_to(destination.resolve()):
        raise UserError(f"XNAT file path {relative!r} points outside {destination}: refused")
    return target
