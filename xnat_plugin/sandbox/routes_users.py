"""Users (XNAT's `/xapi/users`) and project membership (`/data/projects/P/users/GROUP/LOGIN`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from xnat_plugin.sandbox import auth, catalog
from xnat_plugin.sandbox.auth import ROLES, CurrentUser, User
from xnat_plugin.sandbox.listing import result_set

router = APIRouter()
GROUP_OF_ROLE = {role: group for group, role in ROLES.items()}


def _require_admin(user: User) -> None:
    if not user.is_admin:
        raise HTTPException(403, f"user {user.login} is not an administrator")


def _user_json(row: Any) -> dict[str, Any]:
    return {
        "username": row["login"],
        "firstName": row["firstname"],
        "lastName": row["lastname"],
        "email": row["email"],
        "enabled": bool(row["enabled"]),
        "verified": True,
        "admin": bool(row["is_admin"]),
    }


@router.get("/xapi/users")
def list_users(request: Request, user: CurrentUser) -> JSONResponse:  # noqa: ARG001
    return JSONResponse(
        [r["login"] for r in request.app.state.db.query("SELECT login FROM users ORDER BY login")]
    )


@router.get("/data/users")
def data_users(request: Request, user: CurrentUser) -> Response:  # noqa: ARG001
    """`UserListResource`: `SELECT xdat_user_id,login,firstname,lastname,email FROM xdat_user
    WHERE enabled=1 ORDER BY lastname` (the numeric ID is the order accounts were made in)."""
    rows = [
        {
            "xdat_user_id": str(r["rowid"]),
            "login": r["login"],
            "firstname": r["firstname"],
            "lastname": r["lastname"],
            "email": r["email"],
        }
        for r in request.app.state.db.query(
            "SELECT rowid, * FROM users WHERE enabled = 1 ORDER BY lastname, rowid"
        )
    ]
    return result_set(rows, request.query_params.get("format"), "Users")


@router.get("/xapi/access/projects")
def access_levels(request: Request, user: CurrentUser) -> JSONResponse:
    """The caller's role in each project it can see (admins see all, as owners)."""
    rows = request.app.state.db.query("SELECT id FROM projects ORDER BY id")
    levels = [
        {"ID": r["id"], "role": "owner" if user.is_admin else user.roles[r["id"]]}
        for r in rows
        if user.can_read(r["id"])
    ]
    return JSONResponse(levels)


@router.get("/xapi/users/profiles")
def list_profiles(request: Request, user: CurrentUser) -> JSONResponse:
    _require_admin(user)
    return JSONResponse(
        [_user_json(r) for r in request.app.state.db.query("SELECT * FROM users ORDER BY login")]
    )


@router.get("/xapi/users/{login}")
def get_user(login: str, request: Request, user: CurrentUser) -> JSONResponse:
    if login != user.login:
        _require_admin(user)
    row = request.app.state.db.query_one("SELECT * FROM users WHERE login = ?", (login,))
    if row is None:
        raise HTTPException(404, f"user {login} not found")
    return JSONResponse(_user_json(row))


@router.post("/xapi/users")
async def create_user(request: Request, user: CurrentUser) -> JSONResponse:
    """XNAT's user creation: JSON with username, password, firstName, lastName, email."""
    _require_admin(user)
    body = await request.json()
    login, password = body.get("username"), body.get("password")
    if not login or not password:
        raise HTTPException(400, "username and password are required")
    made = auth.create_user(
        request.app.state.db,
        login,
        password,
        is_admin=bool(body.get("admin", False)),
        firstname=body.get("firstName", ""),
        lastname=body.get("lastName", ""),
        email=body.get("email", ""),
    )
    if not made:
        raise HTTPException(409, f"user {login} already exists")
    row = request.app.state.db.query_one("SELECT * FROM users WHERE login = ?", (login,))
    return JSONResponse(_user_json(row), status_code=201)


@router.put("/xapi/users/{login}")
async def update_user(login: str, request: Request, user: CurrentUser) -> JSONResponse:
    """`UsersApi.updateUser` (admins): names, e-mail, enabled, admin, password from JSON."""
    _require_admin(user)
    db = request.app.state.db
    if db.query_one("SELECT 1 FROM users WHERE login = ?", (login,)) is None:
        raise HTTPException(404, f"user {login} not found")
    body = await request.json()
    columns = {"firstName": "firstname", "lastName": "lastname", "email": "email"}
    with db.write() as conn:
        for key, column in columns.items():
            if isinstance(body.get(key), str):
                conn.execute(f"UPDATE users SET {column} = ? WHERE login = ?", (body[key], login))
        if isinstance(body.get("enabled"), bool):
            conn.execute(
                "UPDATE users SET enabled = ? WHERE login = ?", (int(body["enabled"]), login)
            )
        if isinstance(body.get("admin"), bool):
            conn.execute(
                "UPDATE users SET is_admin = ? WHERE login = ?", (int(body["admin"]), login)
            )
        if isinstance(body.get("password"), str) and body["password"]:
            conn.execute(
                "UPDATE users SET password_hash = ? WHERE login = ?",
                (auth.hash_secret(body["password"]), login),
            )
    if body.get("password"):
        auth.forget_credentials(request, login)
    row = db.query_one("SELECT * FROM users WHERE login = ?", (login,))
    return JSONResponse(_user_json(row))


def _project_for_membership(request: Request, project: str, user: User, manage: bool) -> str:
    row = catalog.get_project(request.app.state.db, project)
    if row is None:
        raise HTTPException(404, f"project {project} not found")
    allowed = user.can_manage(row["id"]) if manage else user.can_read(row["id"])
    if not allowed:
        raise HTTPException(403, f"user {user.login} may not manage users of {project}")
    return str(row["id"])


@router.get("/data/projects/{project}/users")
def project_users(project: str, request: Request, user: CurrentUser) -> Response:
    project_id = _project_for_membership(request, project, user, manage=False)
    rows = request.app.state.db.query(
        "SELECT u.login, u.firstname, u.lastname, u.email, p.role FROM project_users p "
        "JOIN users u ON u.login = p.login WHERE p.project = ? ORDER BY u.login",
        (project_id,),
    )
    listing = [
        {
            "login": r["login"],
            "firstname": r["firstname"],
            "lastname": r["lastname"],
            "email": r["email"],
            "displayname": GROUP_OF_ROLE[r["role"]],
            "GROUP_ID": f"{project_id}_{r['role']}",
        }
        for r in rows
    ]
    return result_set(listing, request.query_params.get("format"), "Project users")


@router.api_route("/data/projects/{project}/users/{group}/{login}", methods=["PUT", "POST"])
def add_project_user(
    project: str, group: str, login: str, request: Request, user: CurrentUser
) -> Response:
    project_id = _project_for_membership(request, project, user, manage=True)
    role = (
        ROLES.get(group)
        or ROLES.get(group.capitalize())
        or (group.lower() if group.lower() in GROUP_OF_ROLE else None)
    )
    if role is None:
        raise HTTPException(400, f"group {group}: use Owners, Members or Collaborators")
    db = request.app.state.db
    if db.query_one("SELECT 1 FROM users WHERE login = ?", (login,)) is None:
        raise HTTPException(404, f"user {login} not found")
    with db.write() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO project_users (project, login, role) VALUES (?, ?, ?)",
            (project_id, login, role),
        )
    return Response(status_code=200)


@router.delete("/data/projects/{project}/users/{group}/{login}")
def remove_project_user(
    project: str,
    group: str,
    login: str,
    request: Request,  # noqa: ARG001
    user: CurrentUser,
) -> Response:
    project_id = _project_for_membership(request, project, user, manage=True)
    with request.app.state.db.write() as conn:
        conn.execute(
            "DELETE FROM project_users WHERE project = ? AND login = ?", (project_id, login)
        )
    return Response(status_code=200)
