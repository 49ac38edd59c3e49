"""A resource's files for a step: in the mounted archive where XNAT's catalog says they are,
else downloaded.

Where XNAT keeps an assessor's files depends on how they arrived: Container Service's output
handlers put them in `ASSESSORS/<label>/`, a REST upload in `ASSESSORS/<assessor ID>/`. A step
never guesses the folder: it asks the catalog (`?locator=projectPath`, a path inside the
project's archive folder) and finds that path in its mount, which may be the project folder
(train) or one session's folder (evaluate). When the catalog gives no path, or a file is not in
the mount, the resource is downloaded over REST instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath

from xnat_plugin.client.browse import list_archive_paths
from xnat_plugin.client.connection import XnatClient
from xnat_plugin.client.transfer import download_resource

log = logging.getLogger(__name__)

# `<object folder>/<resource>/<file>` at the least: a shorter tail names too little to be sure.
MIN_TAIL_PARTS = 3


def locate_in_mount(mount: Path, archive_path: str) -> Path | None:
    """The file at `archive_path` (inside the project's archive folder, or an absolute server
    path) within `mount`, a mount of the whole archive folder or of part of it.

    The longest tail of the path that names a file in the mount wins; a path with `..`, or a
    tail that leads out of the mount (through a link), is never taken.
    """
    path = PurePosixPath(archive_path.replace("\\", "/"))
    parts = [part for part in path.parts if part != "/"]
    if not parts or ".." in parts:
        return None
    root = mount.resolve()
    for start in range(0, len(parts) - MIN_TAIL_PARTS + 1):
        candidate = root.joinpath(*parts[start:])
        if candidate.is_file() and candidate.resolve().is_relative_to(root):
            return candidate
    return None


def resource_folder(
    client: XnatClient, owner: str, label: str, mount: Path | None, download_to: Path
) -> Path:
    """The folder that holds resource `label` of `owner` (an object's REST path): inside `mount`
    when every file the catalog lists is there, else `download_to` after downloading it."""
    if mount is not None:
        archive_paths = list_archive_paths(client, owner, label)
        located = [locate_in_mount(mount, p) for p in archive_paths if p]
        if archive_paths and len(located) == len(archive_paths) and all(located):
            files = [p for p in located if p is not None]
            common = Path(os.path.commonpath(files))
            return common.parent if common.is_file() else common
        log.info(
            "%s/resources/%s: %d of %d file(s) found in the mount %s; downloading it",
            owner,
            label,
            sum(p is not None for p in located),
            len(archive_paths),
            mount,
        )
    download_resource(client, owner, label, download_to, show_progress=False)
    return download_to
