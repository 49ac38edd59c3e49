"""A project's accessibility and archive settings (`ProjectAccessibilityResource`, and the
`quarantine_code`, `prearchive_code` and `current_arc` paths of `ProjectResource`)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from xnat_plugin.sandbox import catalog, project_rules
from xnat_plugin.sandbox.auth import CurrentUser, User
from xnat_plugin.sandbox.db import Database

router = APIRouter()
ARC_SETTINGS = ("quarantine_code", "prearchive_code", "current_arc")
# The defaults of a new project's arc:project (`initArcProjectImpl`, site `defaultPrearchiveCode`).
ARC_DEFAULTS = {"quarantine_code": "0", "prearchive_code": "4", "current_arc": "arc001"}


def _project(db: Database, project: str, user: User) -> str:
    row = catalog.get_project(db, project)
    if row is None or not project_rules.can_see(user, row):
        raise HTTPException(404, f"Could not find the project with ID '{project}'")
    return str(row["id"])


def accessibility_of(db: Database, project_id: str) -> str:
    row = db.query_one("SELECT accessibility FROM projects WHERE id = ?", (project_id,))
    return str(row["accessibility"]) if row is not None else ""


@router.api_route("/data/projects/{project}/accessibility", methods=["GET"])
def get_accessibility(project: str, request: Request, user: CurrentUser) -> Response:
    project_id = _project(request.app.state.db, project, user)
    return Response(accessibility_of(request.app.state.db, project_id), media_type="text/plain")


@router.api_route("/data/projects/{project}/accessibility/{level}", methods=["PUT", "POST"])
def set_accessibility(project: str, level: str, request: Request, user: CurrentUser) -> Response:
    """Only who may delete the project (its owners, admins) sets it."""
    db: Database = request.app.state.db
    project_id = _project(db, project, user)
    if not user.can_manage(project_id):
        raise HTTPException(
            403, f"user {user.login} may not change the accessibility of {project_id}"
        )
    if level not in project_rules.ACCESSIBILITY:
        raise HTTPException(400, f"accessibility {level!r}: use public, protected or private")
    with db.write() as conn:
        conn.execute("UPDATE projects SET accessibility = ? WHERE id = ?", (level, project_id))
    return Response(level, media_type="text/plain")


def _arc_value(db: Database, project_id: str, name: str) -> str:
    row = db.query_one(f"SELECT {name} FROM arc_projects WHERE project = ?", (project_id,))
    return str(row[name]) if row is not None else ARC_DEFAULTS[name]


def get_arc_setting(project: str, setting: str, request: Request, user: User) -> Response:
    project_id = _project(request.app.state.db, project, user)
    return Response(_arc_value(request.app.state.db, project_id, setting), media_type="text/plain")


def set_arc_setting(
    project: str, setting: str, value: str, request: Request, user: User
) -> Response:
    db: Database = request.app.state.db
    project_id = _project(db, project, user)
    if not user.can_manage(project_id):
        raise HTTPException(403, "User account doesn't have permission to edit this project.")
    if setting != "current_arc":
        translated = {"true": "1", "false": "0"}.get(value, value)
        if not translated.lstrip("-").isdigit():
            raise HTTPException(400, f"The submitted code {value} is invalid: must be an integer.")
        value = translated
    with db.write() as conn:
        conn.execute("INSERT OR IGNORE INTO arc_projects (project) VALUES (?)", (project_id,))
        conn.execute(
            f"UPDATE arc_projects SET {setting} = ? WHERE project = ?", (value, project_id)
        )
    return Response(status_code=200)


def _register(setting: str) -> None:
    def read(project: str, request: Request, user: CurrentUser) -> Response:
        return get_arc_setting(project, setting, request, user)

    def write(project: str, value: str, request: Request, user: CurrentUser) -> Response:
        return set_arc_setting(project, setting, value, request, user)

    router.add_api_route(f"/data/projects/{{project}}/{setting}", read, methods=["GET"])
    router.add_api_route(
        f"/data/projects/{{project}}/{setting}/{{value}}", write, methods=["PUT", "POST"]
    )


for _setting in ARC_SETTINGS:
    _register(_setting)
