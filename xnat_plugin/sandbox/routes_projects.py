"""Projects: list, create or edit (PUT), read, delete."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import HTTPException, Response

from xnat_plugin.sandbox import (
    archive,
    archive_changes,
    catalog,
    listing_columns,
    object_views,
    object_xml,
    project_rules,
)
from xnat_plugin.sandbox.call import Call
from xnat_plugin.sandbox.listing import put_answer, result_set
from xnat_plugin.sandbox.resolve import Resolved
from xnat_plugin.sandbox.safe_paths import check_xnat_id

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- projects
def list_projects(call: Call) -> Response:
    """`ProjectListResource`: one row per project (per alias when `alias` is a column, the
    join XNAT makes)."""
    rows = []
    by_alias = "alias" in call.query.get("columns", "").split(",")
    for row in call.db.query("SELECT * FROM projects ORDER BY id"):
        # `Permissions.getAllowedValues(user, "xnat:projectData", …, READ)`: members' projects
        # and public ones
        if not project_rules.can_read(call.user, row):
            continue
        listed = object_views.project_row(row)
        aliases = catalog.project_aliases(call.db, row["id"]) if by_alias else []
        for alias in aliases or [""]:
            rows.append(
                listing_columns.Row(
                    listed.xsi_type, {**listed.columns, "alias": alias}, listed.values
                )
            )
    table = listing_columns.table(rows, "project", object_views.PROJECT_DEFAULTS, call.query)
    return result_set(table, call.fmt, "Projects")


_ALIAS_PATH = "aliases/alias/alias"


def put_project(call: Call, found: Resolved) -> Response:
    """Create or edit a project (`ProjectResource.handlePut`): IDs of deleted projects stay
    refused, and no two projects share an ID, title, running title or alias."""
    project_id = call.path.project
    assert project_id is not None
    fields = call.values_for("project", "xnat:projectData")
    accessibility = call.query.get("accessibility", "")
    aliases = [fields.pop(_ALIAS_PATH)] if _ALIAS_PATH in fields else []
    fields.pop("ID", None)
    if accessibility and accessibility not in project_rules.ACCESSIBILITY:
        raise HTTPException(
            400, f"accessibility {accessibility!r}: use public, protected or private"
        )
    if found.project is None:
        folder = archive.archive_path(call.data_dir, check_xnat_id("project", project_id))
        with call.db.write() as conn:
            refused = project_rules.deleted_id_message(conn, project_id)
            if refused:
                raise HTTPException(403, refused)
            _refuse_conflicts(conn, project_id, fields, aliases, None)
            catalog.create_project(
                conn,
                project_id,
                dict(fields),
                call.user.login,
                accessibility or project_rules.DEFAULT_ACCESSIBILITY,
            )
            _add_aliases(conn, project_id, aliases)
        folder.mkdir(parents=True, exist_ok=True)
        log.info("created project %s", project_id)
        return put_answer(project_id, True)
    project_id = found.project["id"]
    if not call.user.can_manage(project_id):
        raise HTTPException(
            403,
            f"User {call.user.login} doesn't have permission to edit the project {project_id}",
        )
    with call.db.write() as conn:
        _refuse_conflicts(conn, project_id, fields, aliases, found.project)
        for column, key in (
            ("name", "name"),
            ("description", "description"),
            ("secondary_id", "secondary_ID"),
        ):
            if key in fields:
                conn.execute(
                    f"UPDATE projects SET {column} = ? WHERE id = ?",
                    (fields.pop(key), project_id),
                )
        if accessibility:
            conn.execute(
                "UPDATE projects SET accessibility = ? WHERE id = ?",
                (accessibility, project_id),
            )
        _add_aliases(conn, project_id, aliases)
        catalog.update_fields(conn, "projects", {"id": project_id}, fields)
    return put_answer(project_id, False)


def _refuse_conflicts(
    conn: Any, project_id: str, fields: dict[str, str], aliases: list[str], row: Any
) -> None:
    name = fields.get("name", row["name"] if row is not None else "")
    secondary = fields.get("secondary_ID", row["secondary_id"] if row is not None else "")
    found = project_rules.conflicts(conn, project_id, name, secondary, aliases)
    if found:
        raise HTTPException(409, project_rules.CONFLICT_PREFIX + ", ".join(found))


def _add_aliases(conn: Any, project_id: str, aliases: list[str]) -> None:
    for alias in aliases:
        conn.execute(
            "INSERT OR IGNORE INTO project_aliases (project, alias) VALUES (?, ?)",
            (project_id, alias.strip()),
        )


def get_project(call: Call, found: Resolved) -> Response:
    assert found.project is not None
    values = object_views.project_values(found.project)
    for index, alias in enumerate(catalog.project_aliases(call.db, found.project["id"])):
        values[f"aliases/alias[{index}]/alias"] = alias
    return object_xml.object_response(call.query, "xnat:projectData", values)


def delete_project(call: Call, found: Resolved) -> Response:
    assert found.project is not None
    project_id = found.project["id"]
    if not call.user.can_manage(project_id):
        raise HTTPException(403, f"user {call.user.login} may not delete project {project_id}")
    folder = archive.archive_path(call.data_dir, project_id)
    with call.db.write() as conn:
        for table, column in (
            ("experiments", "project"),
            ("subjects", "project"),
            ("project_users", "project"),
            ("project_aliases", "project"),
        ):
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (project_id,))
        conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))
        catalog.purge_orphans(conn)
        archive_changes.discard_from_archive(call.db, call.data_dir, folder)
    return Response(status_code=200)
