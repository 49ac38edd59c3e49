"""Finding things: projects, sessions (with subject, xsiType, site), scans, resources, files,
assessors. Each listing is one XNAT REST call turned into typed rows."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from xnat_plugin.client import paths
from xnat_plugin.client.connection import XnatClient

# Real XNAT lists custom fields as children; some servers flatten them into data_fields.
_FLAT_FIELD = re.compile(r"^fields/field\[name=(?P<name>[^\]]+)\]/field$")


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class ProjectInfo(_Row):
    id: str
    name: str = ""
    description: str = ""


class SessionInfo(_Row):
    id: str
    label: str
    project: str
    xsi_type: str
    subject_id: str = ""
    subject_label: str = ""
    date: str = ""
    fields: dict[str, str] = {}
    data_fields: dict[str, str] = {}

    @property
    def uri(self) -> str:
        return f"/experiments/{self.id}"

    @property
    def site(self) -> str:
        """The acquisition site: custom field `site`, else XNAT's `acquisition_site`."""
        return self.fields.get("site") or self.data_fields.get("acquisition_site", "")

    @property
    def manufacturer(self) -> str:
        return self.data_fields.get("scanner/manufacturer", "")


class ScanInfo(_Row):
    id: str
    type: str = ""
    series_description: str = ""
    xsi_type: str = ""
    quality: str = ""
    uri: str = ""


class ResourceInfo(_Row):
    label: str
    file_count: int | None = None
    size: int | None = None
    format: str = ""
    content: str = ""


class FileInfo(_Row):
    path: str  # relative to the resource, sub-folders kept
    uri: str
    size: int | None = None
    digest: str = ""


class AssessorInfo(_Row):
    id: str
    label: str
    xsi_type: str
    date: str = ""
    project: str = ""
    session_id: str = ""

    @property
    def uri(self) -> str:
        return f"/experiments/{self.session_id}/assessors/{self.id}"


def list_projects(client: XnatClient) -> list[ProjectInfo]:
    return [
        ProjectInfo(
            id=row["ID"], name=row.get("name", "") or "", description=row.get("description") or ""
        )
        for row in client.result_rows(paths.PROJECTS)
    ]


def project_exists(client: XnatClient, project: str) -> bool:
    return client.exists(paths.project(project))


def list_sessions(
    client: XnatClient, project: str, *, with_fields: bool = False
) -> list[SessionInfo]:
    """Image sessions of a project; `with_fields` reads each one for its fields and scanner."""
    rows = client.result_rows(
        paths.project_experiments(project),
        {"columns": "ID,label,xsiType,project,subject_ID,subject_label,date"},
    )
    sessions = [
        SessionInfo(
            id=row["ID"],
            label=row.get("label", ""),
            project=row.get("project") or project,
            xsi_type=row.get("xsiType", ""),
            subject_id=row.get("subject_ID", "") or "",
            subject_label=row.get("subject_label", "") or "",
            date=row.get("date", "") or "",
        )
        for row in rows
        if str(row.get("xsiType", "")).endswith("SessionData")
    ]
    if with_fields:
        sessions = [get_session(client, session.id) for session in sessions]
    if any(not session.subject_label for session in sessions):
        # Not every XNAT honours `columns=subject_label`: one subject listing fills the gap.
        labels = subject_labels(client, project)
        sessions = [
            s.model_copy(update={"subject_label": s.subject_label or labels.get(s.subject_id, "")})
            for s in sessions
        ]
    return sessions


def subject_labels(client: XnatClient, project: str) -> dict[str, str]:
    """Subject ID → label for a project."""
    return {
        row["ID"]: row.get("label", "") or ""
        for row in client.result_rows(paths.subjects(project), {"columns": "ID,label"})
    }


def get_session(client: XnatClient, session_id: str) -> SessionInfo:
    """One session with its custom fields and the scanner it was acquired on."""
    item = client.item(paths.experiment(session_id))
    data = {key: _text(value) for key, value in item.get("data_fields", {}).items()}
    meta = item.get("meta", {})
    return SessionInfo(
        id=data.get("ID", session_id),
        label=data.get("label", ""),
        project=data.get("project", ""),
        xsi_type=meta.get("xsi:type") or data.get("xsiType", ""),
        subject_id=data.get("subject_ID", ""),
        subject_label=data.get("subject_label", ""),
        date=data.get("date", ""),
        fields=_custom_fields(item),
        data_fields=data,
    )


def list_scans(client: XnatClient, session_id: str) -> list[ScanInfo]:
    return [
        ScanInfo(
            id=row["ID"],
            type=row.get("type", "") or "",
            series_description=row.get("series_description", "") or "",
            xsi_type=row.get("xsiType", "") or "",
            quality=row.get("quality", "") or "",
            uri=row.get("URI", "") or "",
        )
        for row in client.result_rows(paths.scans(session_id))
    ]


def list_resources(client: XnatClient, owner_path: str) -> list[ResourceInfo]:
    """Resources of the object at `owner_path` (a `paths.*` value)."""
    return [
        ResourceInfo(
            label=row["label"],
            file_count=_int_or_none(row.get("file_count")),
            size=_int_or_none(row.get("file_size")),
            format=row.get("format", "") or "",
            content=row.get("content", "") or "",
        )
        for row in client.result_rows(paths.resources(owner_path))
    ]


def list_files(client: XnatClient, owner_path: str, label: str) -> list[FileInfo]:
    """Files of resource `label`, each with its path inside the resource and MD5 digest."""
    files = []
    for row in client.result_rows(paths.resource_files(owner_path, label)):
        uri = row.get("URI", "")
        _, marker, relative = uri.partition("/files/")
        files.append(
            FileInfo(
                path=relative if marker else row.get("Name", ""),
                uri=uri,
                size=_int_or_none(row.get("Size")),
                digest=row.get("digest", "") or "",
            )
        )
    return files


def list_archive_paths(client: XnatClient, owner_path: str, label: str) -> list[str]:
    """Where XNAT keeps each file of resource `label`: its path inside the project's archive
    folder (e.g. `arc001/S1/ASSESSORS/XNAT_E00002/SEG/seg.dcm`), as the catalog answers
    `?locator=projectPath` (`CatalogUtils.getEntryDetails`). Where a file lives depends on how
    it arrived (Container Service: `ASSESSORS/<label>/`, REST: `ASSESSORS/<ID>/`), so only this
    answer says where to look. A row without the column (an XNAT that ignores the locator)
    gives ''."""
    rows = client.result_rows(paths.resource_files(owner_path, label), {"locator": "projectPath"})
    return [str(row.get("projectPath") or "") for row in rows]


def list_assessors(client: XnatClient, session_id: str) -> list[AssessorInfo]:
    return [
        AssessorInfo(
            id=row["ID"],
            label=row.get("label", ""),
            xsi_type=row.get("xsiType", ""),
            date=row.get("date", "") or "",
            project=row.get("project", "") or "",
            session_id=session_id,
        )
        for row in client.result_rows(paths.assessors(session_id))
    ]


def _custom_fields(item: dict[str, Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for child in item.get("children", []):
        if child.get("field") != "fields/field":
            continue
        for entry in child.get("items", []):
            values = entry.get("data_fields", {})
            if "name" in values:
                fields[str(values["name"])] = _text(values.get("field", ""))
    for key, value in item.get("data_fields", {}).items():
        match = _FLAT_FIELD.match(key)
        if match:
            fields.setdefault(match["name"], _text(value))
    return fields


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
