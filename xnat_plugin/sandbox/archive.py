"""Where objects live on disk, laid out like XNAT's archive.

```
<data_dir>/archive/<project>/resources/<label>/…                    project resources
<data_dir>/archive/<project>/subjects/<subject>/RESOURCES/<label>/… subject resources
<data_dir>/archive/<project>/arc001/<session>/RESOURCES/<label>/…   session resources
<data_dir>/archive/<project>/arc001/<session>/SCANS/<scan>/<label>/…
<data_dir>/archive/<project>/arc001/<session>/ASSESSORS/<assessor ID or label>/<label>/…
```
An assessor's resources sit in one of two folders, as XNAT writes them (`assessor_folder`):
`ASSESSORS/<assessor ID>/` for a resource made over REST (`DirectAssessResourceImpl`),
`ASSESSORS/<assessor label>/` for one Container Service made while finalizing
(`DefaultCatalogService.insertExperimentResourceCatalog`). Each resource row keeps its folder.
`archive_directory(data_dir, uri)` gives the folder of any object, which is what XNAT's
Container Service mounts into a container.

Every path into the archive is made by `archive_path`, which refuses one that would leave it
(`safe_paths.inside`): labels and IDs are checked when objects are made, and this is the second
wall for anything that got past (an old catalogue, a planted link).
"""

from __future__ import annotations

import os
import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import Any

from xnat_plugin.errors import UserError
from xnat_plugin.sandbox import archive_changes
from xnat_plugin.sandbox.data_path import BadPath, parse_data_path
from xnat_plugin.sandbox.db import Database
from xnat_plugin.sandbox.resolve import Resolved, resolve
from xnat_plugin.sandbox.safe_paths import Refused, inside

DB_FILE = "sandbox.db"
# Request bodies are written here first, then renamed into the archive when complete.
SPOOL_DIR = "spool"


def archive_root(data_dir: Path) -> Path:
    return Path(data_dir) / "archive"


def archive_path(data_dir: Path, *parts: str | Path) -> Path:
    """The path of `parts` (relative folders and file names) in the archive, or `Refused` (400)
    when it would leave the archive, be the archive itself, or pass through a symbolic link.
    Every write, read and delete in the archive takes its path from here."""
    return inside(archive_root(data_dir), *parts)


def object_directory(data_dir: Path, found: Resolved) -> Path:
    """The folder of the deepest object in `found` (resources: their own folder)."""
    if found.resource is not None:
        return archive_path(data_dir, found.resource["directory"])
    return archive_path(data_dir, relative_object_directory(found))


def assessor_folder(assessor: Any, *, by_container_service: bool) -> str:
    """The folder under `ASSESSORS/` that holds the assessor's resources, the one place that
    names it. A resource made over REST goes to the assessor's ID: XNAT's
    `DirectAssessResourceImpl.buildDestinationPath` (`ASSESSORS/" + expt.getId()`). One that
    Container Service makes while finalizing goes to its archive directory name, the label:
    `ContainerFinalizeServiceImpl` uploads outputs with `CatalogService.insertResources`, and
    `DefaultCatalogService.insertExperimentResourceCatalog` writes them under
    `ASSESSORS/<experiment.getArchiveDirectoryName()>` (label, or ID when there is none). The
    label folder is also the one CS mounts (`Assessor`) and `Rename` moves; the ID folder
    never moves. The name was checked (`safe_paths.check_xnat_id`) when the assessor was made
    and is joined through `archive_path`."""
    if by_container_service and assessor["label"]:
        return str(assessor["label"])
    return str(assessor["id"])


def assessor_directories(found: Resolved) -> list[Path]:
    """Both folders the assessor in `found` may have files in (relative to the archive root),
    the label folder first; one when label and ID are the same."""
    assert found.assessor is not None
    assessors = relative_object_directory(found).parent
    names = [assessor_folder(found.assessor, by_container_service=flag) for flag in (True, False)]
    return [assessors / name for name in dict.fromkeys(names)]


def relative_object_directory(found: Resolved) -> Path:
    """Object folder relative to the archive root (not including a resource); an assessor's is
    its label folder (see `assessor_folder`)."""
    assert found.project is not None
    base = Path(found.project["id"])
    if found.experiment is None:
        if found.subject is not None:
            return base / "subjects" / found.subject["label"]
        return base
    session = base / "arc001" / found.experiment["label"]
    if found.assessor is not None:
        return session / "ASSESSORS" / assessor_folder(found.assessor, by_container_service=True)
    if found.scan is not None:
        return session / "SCANS" / found.scan["id"]
    return session


# `org.nrg.xnat.archive.Rename` refuses a new label whose folder already holds files
# (FolderConflictException); the REST resources answer it with 409 and this sentence.
FOLDER_CONFLICT = "File system destination contains pre-existing files"


def move_object_folder(
    db: Database, conn: sqlite3.Connection, data_dir: Path, found: Resolved, label: str
) -> None:
    """Inside `db.write()`, as the object in `found` (subject, session or assessor) takes the
    already checked `label`: its folder follows it, as XNAT's `Rename` moves the folder and
    rewrites every resource's URI below it. The resources below now name the new folder, and
    the folder is renamed when the rows commit (`archive_changes`). A new folder that already
    holds anything is refused (409) while nothing has changed: a renamed object's files never
    mix with another's, and deleting a later object of the old label cannot remove them."""
    old = relative_object_directory(found)
    new = old.parent / label
    source, target = archive_path(data_dir, old), archive_path(data_dir, new)
    occupied = os.path.isfile(target)
    if os.path.isdir(target):
        with os.scandir(target) as entries:
            occupied = any(entries)
    if occupied:
        raise Refused(f"{FOLDER_CONFLICT}: {new.as_posix()}", 409)
    prefix = old.as_posix() + "/"
    conn.execute(
        "UPDATE resources SET directory = ? || substr(directory, ?) "
        "WHERE substr(directory, 1, ?) = ?",
        (new.as_posix() + "/", len(prefix) + 1, len(prefix), prefix),
    )
    archive_changes.move_folder_in_archive(db, data_dir, source, target)


def resource_directory(found: Resolved, label: str, *, by_container_service: bool = False) -> Path:
    """Relative folder for a new resource `label` on the object in `found`; an assessor's goes
    to the folder `assessor_folder` names for who makes it."""
    base = relative_object_directory(found)
    if found.assessor is not None:
        return (
            base.parent
            / assessor_folder(found.assessor, by_container_service=by_container_service)
            / label
        )
    if found.experiment is None:
        if found.subject is not None:
            return base / "RESOURCES" / label
        return base / "resources" / label
    if found.assessor is not None or found.scan is not None:
        return base / label
    return base / "RESOURCES" / label


def data_segments(uri: str) -> list[str]:
    """`/data/projects/P?x=1` (or `/REST/…`, `/archive/…`, `projects/P`) → ["projects", "P"]."""
    path = uri.split("?", 1)[0].strip("/")
    parts = [p for p in path.split("/") if p]
    while parts and parts[0] in ("data", "REST", "archive", "xapi"):
        parts = parts[1:]
    return parts


@lru_cache(maxsize=16)
def _catalogue(data_dir: Path) -> Database:
    """One Database per data dir for repeated look-ups (its connections are per thread)."""
    if not (data_dir / DB_FILE).is_file():
        raise UserError(
            f"{data_dir} holds no sandbox catalogue ({DB_FILE}): is it a sandbox data dir?"
        )
    return Database(data_dir / DB_FILE)


def archive_directory(data_dir: Path, uri: str) -> Path:
    """The archive folder of a project/subject/session/scan/resource/assessor URI.

    Accepts what XNAT and the Container Service use: `/data/projects/P`,
    `/archive/experiments/E`, `/data/experiments/E/scans/1`, `…/resources/DICOM`, assessor URIs.
    """
    db = _catalogue(Path(data_dir).resolve())
    try:
        path = parse_data_path(data_segments(uri))
        if path.collection is not None or path.file_path is not None or path.level == "root":
            raise UserError(
                f"{uri} names no single XNAT object: give a project, session, scan, "
                "assessor or resource URI"
            )
        found = resolve(db, path, None)
    except BadPath as exc:
        raise UserError(f"{uri}: {exc}") from exc
    except Exception as exc:  # HTTPException from resolve: the object does not exist
        detail = getattr(exc, "detail", None)
        if detail is None:
            raise
        raise UserError(f"{uri}: {detail} in the sandbox at {data_dir}") from exc
    try:
        return object_directory(Path(data_dir).resolve(), found)
    except Refused as exc:
        raise UserError(f"{uri}: {exc}") from exc
