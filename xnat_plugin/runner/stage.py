"""Stage a resolved command's mounts: a host folder behind every container path.

As in Container Service: an input mount is the archive directory of the object that feeds it
(read-only; copied first only when the mount is writable); a mount that no input feeds is a
fresh, empty build directory, writable by its owner (this server's user) only, as
`CommandResolutionServiceImpl.getBuildDirectory` creates it. When the XNAT's archive is not on
this machine, the object's files are downloaded over REST into a staging folder laid out like
XNAT's archive (`SCANS/<id>/<resource>/…`, `RESOURCES/<label>/…`,
`ASSESSORS/<label>/<resource>/…`) and made read-only, as Container Service copies remote files
into a build directory.

A Project is mounted as its current archive directory, `<archive>/<project>/arc001`: one folder
per session (`Project.populateProperties` sets `directory` to `getRootArchivePath() +
getCurrentArc()`, which `CommandResolutionServiceImpl.resolveMountPathForModelObject` mounts).
The project's own resources live beside it (`<archive>/<project>/resources`), not in it.
Staged over REST, a Project mount therefore holds `<session label>/…` for every image session of
the project, listed here whatever the input's `load-children` (that setting only shapes the
JSON that matchers see).

Every input mount, local or downloaded, is authorised first by one check
(`authorised_source`): the object is read again at its URI as the launching user, and only what
XNAT then shows that user is mounted or downloaded.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rich.progress import Progress

from xnat_plugin.errors import UserError
from xnat_plugin.runner.resolved import ResolvedCommand, ResolvedMount
from xnat_plugin.runner.xnat_listing import listing_rows, row_value
from xnat_plugin.runner.xnat_objects import XnatObject, XnatObjectLoader
from xnat_plugin.runner.xnat_rest import XnatRest, data_path

log = logging.getLogger(__name__)

# Given an object URI, the folder Container Service mounts for it when the archive is local (a
# project: its current archive directory, e.g. `<project>/arc001`), else None.
ArchiveLocator = Callable[[str], Path | None]


# A build directory as Container Service leaves it: `Files.createDirectory` then
# `setWritable(true)`, i.e. the owner may write, nobody else.
BUILD_DIRECTORY_MODE = 0o755


def make_build_directory(path: Path) -> Path:
    """A new, empty folder writable by this process's user only (never an existing one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=BUILD_DIRECTORY_MODE)
    path.chmod((path.stat().st_mode | stat.S_IWUSR) & ~(stat.S_IWGRP | stat.S_IWOTH))
    return path


def authorised_source(xnat: XnatRest, mount: ResolvedMount, *, with_files: bool) -> XnatObject:
    """The object feeding `mount`, as XNAT shows it to the launching user, or a UserError.

    A root input may arrive as a JSON object, which Container Service deserialises without
    reading XNAT: its URIs, children and file lists are claims. `xnat` is the launching user's
    own connection; the object is read again at its URI through it, so XNAT's access rules
    (403, 404) decide, and only XNAT's answer (its URI, its files) is mounted or downloaded."""
    assert mount.source is not None
    claimed = mount.source
    try:
        loaded = XnatObjectLoader(xnat, with_files=with_files).load(
            claimed.uri, load_children=False
        )
    except UserError as exc:
        raise UserError(
            f"mount {mount.name}: the launching user may not read {claimed.uri or '(no URI)'} "
            f"of input {mount.source_input!r} ({exc})"
        ) from None
    if loaded.kind != claimed.kind:
        raise UserError(
            f"mount {mount.name}: {claimed.uri} is a {loaded.kind}, not the {claimed.kind} that "
            f"input {mount.source_input!r} claims"
        )
    return loaded


def stage_mounts(
    resolved: ResolvedCommand,
    staging_dir: Path,
    *,
    xnat: XnatRest,
    archive_locator: ArchiveLocator | None = None,
) -> None:
    """Fill `host_path` of every mount of `resolved`, creating folders under `staging_dir`."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    for mount in resolved.mounts:
        mount.host_path = _stage_one(mount, staging_dir, xnat, archive_locator)
        log.info(
            "mount %s: %s -> %s (%s)",
            mount.name,
            mount.container_path,
            mount.host_path,
            "rw" if mount.writable else "ro",
        )


def _stage_one(
    mount: ResolvedMount,
    staging_dir: Path,
    xnat: XnatRest,
    archive_locator: ArchiveLocator | None,
) -> Path:
    build_dir = staging_dir / "mounts" / mount.name
    if mount.source is None:
        return make_build_directory(build_dir)
    if archive_locator is not None:
        source = authorised_source(xnat, mount, with_files=False)
        local = archive_locator(source.uri)
        if local is not None and local.exists():
            if not mount.writable:
                return local
            _copy(local, build_dir)
            return build_dir
    if mount.source.kind == "Project":
        # Sessions are listed (and each read) as the launching user while downloading.
        project = authorised_source(xnat, mount, with_files=False)
        download_project_sessions(xnat, project, build_dir)
    else:
        download_object(xnat, authorised_source(xnat, mount, with_files=True), build_dir)
    if not mount.writable:
        make_read_only(build_dir)
    return build_dir


def _copy(source: Path, destination: Path) -> None:
    if destination.exists():
        shutil.rmtree(destination)
    if source.is_file():
        destination.mkdir(parents=True)
        shutil.copy2(source, destination / source.name)
    else:
        shutil.copytree(source, destination)
    make_writable(destination)


def archive_layout(obj: XnatObject) -> Iterator[tuple[str, dict[str, Any]]]:
    """(relative path, file JSON) for every file of `obj`, laid out as in XNAT's archive."""
    if obj.kind == "File":
        yield str(obj.json.get("name", "")), obj.json
        return
    if obj.kind == "Resource":
        yield from _resource_files("", obj.json)
        return
    resources_dir = {"Session": "RESOURCES/", "Project": "resources/", "Subject": "RESOURCES/"}
    prefix = resources_dir.get(obj.kind, "")
    for resource in obj.children("resources"):
        yield from _resource_files(f"{prefix}{resource.get('label')}/", resource)
    for scan in obj.children("scans"):
        for resource in scan.get("resources") or []:
            yield from _resource_files(f"SCANS/{scan.get('id')}/{resource.get('label')}/", resource)
    for assessor in obj.children("assessors"):
        for resource in assessor.get("resources") or []:
            yield from _resource_files(
                f"ASSESSORS/{assessor.get('label')}/{resource.get('label')}/", resource
            )


def _resource_files(prefix: str, resource: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for file in resource.get("files") or []:
        yield f"{prefix}{file.get('name')}", file


def download_object(xnat: XnatRest, obj: XnatObject, destination: Path) -> int:
    """Download every file of `obj` into `destination`; returns the number of files."""
    return _download_files(xnat, list(archive_layout(obj)), destination, obj.uri)


def download_project_sessions(xnat: XnatRest, project: XnatObject, destination: Path) -> int:
    """The project's archive directory: `<session label>/SCANS|RESOURCES|ASSESSORS/…` for
    every image session of `project`; returns the number of files."""
    loader = XnatObjectLoader(xnat)
    files: list[tuple[str, dict[str, Any]]] = []
    for session_id in project_session_ids(xnat, project.id):
        session = loader.experiment(session_id)
        files.extend(
            (f"{session.label or session.id}/{relative}", file)
            for relative, file in archive_layout(session)
        )
    return _download_files(xnat, files, destination, project.uri)


def project_session_ids(xnat: XnatRest, project_id: str) -> list[str]:
    """IDs of the project's image sessions (its other experiments are not session folders)."""
    rows = listing_rows(
        xnat.get_json(
            f"/data/projects/{quote(project_id)}/experiments", {"columns": "ID,label,xsiType"}
        )
    )
    return [
        str(row_value(row, "ID", "id"))
        for row in rows
        if "sessiondata" in str(row_value(row, "xsiType", "xsi_type") or "").lower()
    ]


def _download_files(
    xnat: XnatRest, files: list[tuple[str, dict[str, Any]]], destination: Path, what: str
) -> int:
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    with Progress(transient=True) as progress:
        task = progress.add_task(f"downloading {what}", total=len(files))
        for relative, file in files:
            target = (destination / relative).resolve()
            if not target.is_relative_to(root):
                raise UserError(f"refusing file {relative!r} of {what}: it leaves the mount")
            xnat.download(data_path(str(file["uri"])), target)
            progress.advance(task)
    log.info("downloaded %d files of %s", len(files), what)
    return len(files)


def make_read_only(folder: Path) -> None:
    """Remove write permission below `folder` (the process backend has no read-only binds)."""
    for dirpath, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            path = Path(dirpath) / name
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    for dirpath, _dirnames, _ in os.walk(folder, topdown=False):
        path = Path(dirpath)
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def make_writable(folder: Path) -> None:
    """Give the owner write permission again (so a staging folder can be removed)."""
    for dirpath, _dirnames, filenames in os.walk(folder):
        Path(dirpath).chmod(Path(dirpath).stat().st_mode | stat.S_IWUSR)
        for name in filenames:
            path = Path(dirpath) / name
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
