"""What XNAT checks before it stores a project: unique IDs, titles, running titles and aliases
(`BaseXnatProjectdata.validateProjectFields` / `validateElements` / `validateAliases`), the IDs
of deleted projects (`ProjectResource.handlePut`), and the three accessibility levels."""

from __future__ import annotations

import sqlite3
from typing import Any

from xnat_plugin.sandbox import identifiers
from xnat_plugin.sandbox.auth import User

ACCESSIBILITY = ("public", "protected", "private")
# `BaseXnatProjectdata.createProject`: a project created without `accessibility` is protected.
DEFAULT_ACCESSIBILITY = "protected"
CONFLICT_PREFIX = "Requested new project conflicts with existing projects: "

# The order XNAT reports conflicts in: its elements sit in a java.util.HashMap, iterated by
# bucket ("Project Title" hashes to 2, "Project Id" to 7, "Running Title" to 10).
_ELEMENT_ORDER = ("Project Title", "Project Id", "Running Title")


def _taken_by_others(conn: sqlite3.Connection, project_id: str) -> set[str]:
    """IDs, titles, running titles and aliases of every other project, lower case."""
    taken: set[str] = set()
    for row in conn.execute(
        "SELECT id, name, secondary_id FROM projects WHERE LOWER(id) != LOWER(?)", (project_id,)
    ):
        taken.update(str(v).lower() for v in row if v)
    for row in conn.execute(
        "SELECT alias FROM project_aliases WHERE LOWER(project) != LOWER(?)", (project_id,)
    ):
        taken.add(str(row[0]).lower())
    return taken


def conflicts(
    conn: sqlite3.Connection,
    project_id: str,
    name: str,
    secondary_id: str,
    new_aliases: list[str],
) -> list[str]:
    """XNAT's conflict messages for these values (empty when the project may be stored)."""
    elements = {"Project Id": project_id.lower()}
    if name.strip():
        elements["Project Title"] = name.strip().lower()
    if secondary_id.strip():
        elements["Running Title"] = secondary_id.strip().lower()
    aliases = [a.strip().lower() for a in new_aliases if a.strip()]
    others = _taken_by_others(conn, project_id)
    found: list[str] = []
    if aliases:
        own = conn.execute(
            "SELECT id, name, secondary_id FROM projects WHERE LOWER(id) = LOWER(?)",
            (project_id,),
        ).fetchone()
        own_values = {str(v).lower() for v in (own or ()) if v}
        found += [
            f"Invalid Alias: '{alias}' is already being used."
            for alias in aliases
            if alias in others or alias in own_values
        ]
    for key in _ELEMENT_ORDER:
        value = elements.get(key)
        if value is None:
            continue
        if value in others:
            found.append(f"Invalid {key}: '{value}' is already being used.")
        if value in aliases:
            found.append(f"Invalid {key}: '{value}' cannot be used as the {key} and an alias.")
    return found


def deleted_id_message(conn: sqlite3.Connection, project_id: str) -> str | None:
    """A project ID that a deleted project used is refused for good."""
    exists = conn.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone()
    if exists is None and identifiers.is_claimed(conn, "project", project_id):
        return (
            f"Project '{project_id}' was used in a previously deleted project and cannot be reused."
        )
    return None


def can_see(user: User, project: Any) -> bool:
    """Whether the project shows at all: members and admins see it, everyone sees a public or
    protected one (a protected project hides its data, not its existence)."""
    return user.can_read(project["id"]) or project["accessibility"] in ("public", "protected")


def can_read(user: User, project: Any) -> bool:
    """Whether the project's data may be read: members, admins, and anyone when it is public."""
    return user.can_read(project["id"]) or project["accessibility"] == "public"
