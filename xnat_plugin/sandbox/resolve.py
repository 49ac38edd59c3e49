"""From a parsed path to catalogue rows, with XNAT's answers: 404 for an unknown parent, 403
for a project the caller may not see."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from fastapi import HTTPException

from xnat_plugin.sandbox import catalog
from xnat_plugin.sandbox.auth import User
from xnat_plugin.sandbox.data_path import DataPath
from xnat_plugin.sandbox.db import Database


@dataclass
class Resolved:
    """The rows a path names (None where the path does not reach, or the object is missing)."""

    path: DataPath
    project: sqlite3.Row | None = None
    subject: sqlite3.Row | None = None
    experiment: sqlite3.Row | None = None
    assessor: sqlite3.Row | None = None
    scan: sqlite3.Row | None = None
    reconstruction: sqlite3.Row | None = None
    resource: sqlite3.Row | None = None

    @property
    def project_id(self) -> str | None:
        return self.project["id"] if self.project is not None else None

    def resource_owner(self) -> str:
        """The owner key of resources at this level: `scan:E/1`, `experiment:E`, …"""
        if self.scan is not None:
            assert self.experiment is not None
            return f"scan:{self.experiment['id']}/{self.scan['id']}"
        if self.assessor is not None:
            return f"experiment:{self.assessor['id']}"
        if self.experiment is not None:
            return f"experiment:{self.experiment['id']}"
        if self.subject is not None:
            return f"subject:{self.subject['id']}"
        assert self.project is not None
        return f"project:{self.project['id']}"


def not_found(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} not found")


def _check_access(user: User | None, project: str, write: bool) -> None:
    if user is None:
        return
    allowed = user.can_write(project) if write else user.can_read(project)
    if not allowed:
        verb = "modify" if write else "read"
        raise HTTPException(
            status_code=403, detail=f"user {user.login} may not {verb} project {project}"
        )


def _to_owner(db: Database, result: Resolved, user: User | None, owner: str) -> str:
    """An object reached through a project it is shared into is read-only there: a change goes
    to the object in its own project, with that project's permissions."""
    _check_access(user, owner, True)
    result.project = catalog.get_project(db, owner)
    return owner


def resolve(
    db: Database,
    path: DataPath,
    user: User | None,
    *,
    write: bool = False,
    leaf_optional: bool = False,
) -> Resolved:
    """Look up every object the path names. Parents must exist (404); the deepest one must too,
    unless `leaf_optional` (a PUT that creates it). `user=None` skips access checks."""
    result = Resolved(path=path)
    leaf = path.level

    def missing(level: str, what: str) -> None:
        # An experiment PUT under a subject that does not exist creates that subject
        # (`SubjAssessmentResource.handlePut` → `createNewSubject`).
        creatable = level == leaf or (level == "subject" and leaf == "experiment")
        if not (leaf_optional and creatable):
            raise not_found(what)

    if path.project is not None:
        result.project = catalog.get_project(db, path.project)
        if result.project is None:
            missing("project", f"project {path.project}")
            return result
        _check_access(user, result.project["id"], write and leaf != "project")
    project_id = result.project_id

    if path.subject is not None:
        result.subject = catalog.get_subject(db, project_id, path.subject)
        if result.subject is None:
            missing("subject", f"subject {path.subject}")
            return result
        if project_id is None:
            _check_access(user, result.subject["project"], write)
            project_id = result.subject["project"]
            result.project = catalog.get_project(db, project_id)
        elif write and result.subject["project"] != project_id:
            project_id = _to_owner(db, result, user, result.subject["project"])

    if path.experiment is not None:
        row = catalog.get_experiment(db, project_id, path.experiment)
        in_other_subject = (
            row is not None
            and result.subject is not None
            and not row["session_id"]
            and row["subject_id"] != result.subject["id"]
        )
        if in_other_subject:
            row = None
        if row is None:
            missing("experiment", f"experiment {path.experiment}")
            return result
        if project_id is None:
            _check_access(user, row["project"], write)
            project_id = row["project"]
            result.project = catalog.get_project(db, project_id)
        elif write and row["project"] != project_id and not row["session_id"]:
            project_id = _to_owner(db, result, user, row["project"])
        if row["session_id"]:  # an assessor reached as /experiments/<ID>
            result.assessor = row
            result.experiment = catalog.get_experiment(db, None, row["session_id"])
            if path.assessor is not None:
                raise not_found(f"assessor {path.assessor} under an assessor")
            path.assessor, path.experiment = row["id"], row["session_id"]
        else:
            result.experiment = row

    if path.assessor is not None and result.assessor is None:
        assert result.experiment is not None
        row = catalog.get_experiment(db, project_id, path.assessor)
        if row is None or row["session_id"] != result.experiment["id"]:
            missing("assessor", f"assessor {path.assessor}")
            return result
        result.assessor = row

    if path.scan is not None:
        assert result.experiment is not None
        result.scan = catalog.get_scan(db, result.experiment["id"], path.scan)
        if result.scan is None:
            missing("scan", f"scan {path.scan}")
            return result

    if path.reconstruction is not None:
        assert result.experiment is not None
        result.reconstruction = db.query_one(
            "SELECT * FROM reconstructions WHERE experiment_id = ? AND id = ?",
            (result.experiment["id"], path.reconstruction),
        )
        if result.reconstruction is None:
            missing("reconstruction", f"reconstruction {path.reconstruction}")
            return result

    if path.resource is not None:
        owner = result.resource_owner()
        result.resource = db.query_one(
            "SELECT * FROM resources WHERE owner = ? AND (label = ? OR CAST(id AS TEXT) = ?) "
            "ORDER BY label = ? DESC",
            (owner, path.resource, path.resource, path.resource),
        )
        if result.resource is None:
            missing("resource", f"resource {path.resource}")
    return result
