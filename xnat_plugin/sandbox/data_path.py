"""Parse XNAT's nested REST paths (`/data/projects/P/subjects/S/experiments/E/scans/1/...`).

XNAT reaches one object through many paths: by ID or label under its project, by ID at the top
level (`/data/experiments/E`), assessors under `experiments/` or `assessors/`, and pyxnat's
`assessors/A/out/resources/R`. This module turns the segments into one `DataPath`; resolving
it against the catalogue happens in `resolve.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

# What may follow each level, and the level it leads to.
_CHILDREN: dict[str, dict[str, str]] = {
    "root": {"projects": "project", "subjects": "subject", "experiments": "experiment"},
    "project": {
        "subjects": "subject",
        "experiments": "experiment",
        "resources": "resource",
        "files": "files",
    },
    "subject": {
        "experiments": "experiment",
        "resources": "resource",
        "files": "files",
        "projects": "share",  # the projects a subject is shared into
    },
    "experiment": {
        "scans": "scan",
        "reconstructions": "reconstruction",
        "assessors": "assessor",
        "resources": "resource",
        "files": "files",
        # an assessor reached as /data/experiments/<assessor ID>/out/resources/…
        "out": "out",
        "in": "out",
        "projects": "share",
    },
    "assessor": {"resources": "resource", "out": "out", "in": "out", "files": "files"},
    "scan": {"resources": "resource", "files": "files"},
    "resource": {"files": "files"},
}


class BadPath(ValueError):
    """The path is not one XNAT serves (→ 404), or a file name escapes its folder (→ 400)."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class DataPath:
    """The objects a path names; `collection` is set when the path ends at a listing."""

    project: str | None = None
    subject: str | None = None
    experiment: str | None = None
    assessor: str | None = None
    scan: str | None = None
    reconstruction: str | None = None
    resource: str | None = None
    file_path: str | None = None
    collection: str | None = None
    # `…/subjects/S/projects/P2`: the project the subject or experiment is shared into
    share: str | None = None

    @property
    def level(self) -> str:
        """The deepest object named: project, subject, experiment, assessor, scan,
        reconstruction, resource."""
        for name in (
            "resource",
            "scan",
            "reconstruction",
            "assessor",
            "experiment",
            "subject",
            "project",
        ):
            if getattr(self, name) is not None:
                return name
        return "root"


def check_file_path(path: str) -> str:
    """A file path inside a resource: relative, no `..`, no empty parts (→ BadPath 400)."""
    if path.startswith("/") or "\\" in path:
        raise BadPath(f"file name {path!r} must be a relative path", status=400)
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts) or "\x00" in path:
        raise BadPath(f"file name {path!r} must not contain '..', '.' or empty parts", status=400)
    return path


def parse_data_path(segments: list[str]) -> DataPath:
    """`["projects", "P", "subjects", "S"]` → DataPath(project="P", subject="S")."""
    result = DataPath()
    level = "root"
    index = 0
    while index < len(segments):
        name = segments[index]
        children = _CHILDREN.get(level, {})
        if name not in children:
            raise BadPath(f"unknown path element {name!r} after {level}")
        child = children[name]
        if child == "out":  # pyxnat: assessors/A/out/resources/R
            index += 1
            continue
        if child == "files":
            rest = segments[index + 1 :]
            if level != "resource" and rest:
                raise BadPath("files of several resources can only be listed, not addressed")
            if rest:
                result.file_path = check_file_path("/".join(rest))
            else:
                result.collection = "files"
            return result
        if index + 1 >= len(segments):
            result.collection = name
            return result
        value = segments[index + 1]
        if child == "share":
            if index + 2 != len(segments):
                raise BadPath(f"unknown path element {segments[index + 2]!r} after a share")
            result.share = value
            return result
        if child == "experiment" and level == "experiment":
            child = "assessor"
        setattr(result, child, value)
        level = child
        index += 2
    return result
