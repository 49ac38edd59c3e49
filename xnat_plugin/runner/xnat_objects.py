"""XNAT objects as Container Service serialises them for matchers and derived inputs.

Container Service turns a project, subject, session, scan, assessor, resource or file into JSON
(`id`, `label`, `xsiType`, `uri`, `project-id`, `scans[]`, `resources[]` with `files[]`, …) and
runs JSONPath matchers over that JSON. This module builds the same JSON over REST from any
XNAT, starting from a URI such as `/experiments/XNAT_E00001`, `/archive/projects/P` or
`/experiments/E/scans/2/resources/DICOM`. URIs follow Container Service: `/archive/...`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from xnat_plugin.errors import UserError
from xnat_plugin.runner.xnat_rest import JsonGetter, NotFoundError

log = logging.getLogger(__name__)

# Wrapper input types that name an XNAT object (the rest are plain values).
OBJECT_TYPES = (
    "Project",
    "ProjectAsset",
    "Subject",
    "SubjectAssessor",
    "Session",
    "Scan",
    "Assessor",
    "Resource",
    "File",
    "File[]",
    "Directory",
)


@dataclass
class XnatObject:
    """One XNAT object: its wrapper-input type (`Session`, `Scan`, …) and its JSON."""

    kind: str
    json: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.json.get("id", ""))

    @property
    def label(self) -> str:
        return str(self.json.get("label", ""))

    @property
    def uri(self) -> str:
        return str(self.json.get("uri", ""))

    @property
    def xsi_type(self) -> str:
        return str(self.json.get("xsiType", ""))

    def children(self, key: str) -> list[dict[str, Any]]:
        value = self.json.get(key) or []
        return [child for child in value if isinstance(child, dict)]


def _rows(document: Any) -> list[dict[str, Any]]:
    """The rows of an XNAT listing (`{"ResultSet": {"Result": [...]}}`)."""
    if isinstance(document, dict):
        result = document.get("ResultSet", {}).get("Result", [])
        return [row for row in result if isinstance(row, dict)]
    return []


def _fields(document: Any) -> tuple[str, dict[str, Any]]:
    """(xsi type, data_fields) of an object read (`{"items": [{"meta", "data_fields"}]}`)."""
    items = document.get("items", []) if isinstance(document, dict) else []
    if not items:
        return "", {}
    item = items[0]
    meta = item.get("meta", {})
    return str(meta.get("xsi:type", "")), dict(item.get("data_fields", {}))


def _get(row: dict[str, Any], *names: str) -> Any:
    """A row value by any of its spellings (XNAT listings mix `ID`, `id`, `xsiType`, …)."""
    lowered = {key.lower(): value for key, value in row.items()}
    for name in names:
        if name in row and row[name] not in (None, ""):
            return row[name]
        value = lowered.get(name.lower())
        if value not in (None, ""):
            return value
    return None


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    # Container Service serialises with NON_NULL: an absent field is left out, not null.
    return {key: value for key, value in values.items() if value is not None}


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class XnatObjectLoader:
    """Builds `XnatObject`s over REST. `with_files=False` skips file listings (faster)."""

    def __init__(self, xnat: JsonGetter, *, with_files: bool = True) -> None:
        self.xnat = xnat
        self.with_files = with_files

    # ----- entry point

    def load(self, uri: str, *, load_children: bool = True) -> XnatObject:
        """The object a URI names; a UserError saying what is wrong otherwise."""
        parts = _uri_parts(uri)
        try:
            return self._load_parts(parts, uri, load_children)
        except NotFoundError as exc:
            raise UserError(f"XNAT has no object at {uri}; check the URI ({exc})") from exc

    def _load_parts(self, parts: list[str], uri: str, load_children: bool) -> XnatObject:
        if "files" in parts:
            index = parts.index("files")
            resource = self._load_parts(parts[:index], uri, load_children)
            name = "/".join(parts[index + 1 :])
            for file in resource.children("files"):
                if file.get("name") == name:
                    return XnatObject("File", file)
            raise UserError(f"XNAT has no file {name!r} in {resource.uri}; check the URI")
        if len(parts) >= 2 and parts[-2] == "resources":
            # pyxnat's `/assessors/A/out/resources/R` names the same resource as `/resources/R`.
            parent_parts = parts[:-3] if parts[-3:-2] == ["out"] else parts[:-2]
            parent = self._load_parts(parent_parts, uri, False)
            return self.resource(parent.uri, parts[-1])
        if len(parts) >= 2 and parts[-2] == "scans":
            session_id = self._experiment_id(parts[:-2])
            return self.scan(session_id, parts[-1])
        if len(parts) >= 2 and parts[-2] == "assessors":
            session_id = self._experiment_id(parts[:-2])
            return self.assessor(parts[-1], session_id=session_id)
        if len(parts) >= 2 and parts[-2] == "experiments":
            return self.experiment(parts[-1], project=_project_in(parts))
        if len(parts) >= 2 and parts[-2] == "subjects":
            return self.subject(parts[-1], project=_project_in(parts))
        if len(parts) == 2 and parts[0] == "projects":
            return self.project(parts[1], load_children=load_children)
        raise UserError(
            f"{uri!r} is not an XNAT object URI; use e.g. /experiments/XNAT_E00001, "
            "/projects/P, /experiments/E/scans/1 or /experiments/E/resources/LABEL"
        )

    def _experiment_id(self, parts: list[str]) -> str:
        if len(parts) >= 2 and parts[-2] == "experiments":
            experiment = parts[-1]
            project = _project_in(parts)
            if project is None:
                return experiment
            # A label inside a project path: ask XNAT for the ID.
            _, fields = _fields(
                self.xnat.get_json(f"/data/projects/{project}/experiments/{quote(experiment)}")
            )
            return str(_get(fields, "ID", "id") or experiment)
        raise UserError(f"expected .../experiments/ID before scans or assessors in {parts}")

    # ----- one function per kind

    def project(self, project_id: str, *, load_children: bool = True) -> XnatObject:
        _, fields = _fields(self.xnat.get_json(f"/data/projects/{quote(project_id)}"))
        pid = str(_get(fields, "ID", "id") or project_id)
        uri = f"/archive/projects/{pid}"
        json = _without_none(
            {
                "id": pid,
                "label": _get(fields, "name") or pid,
                "xsiType": "xnat:projectData",
                "uri": uri,
                "title": _get(fields, "name"),
                "description": _get(fields, "description"),
                "keywords": _get(fields, "keywords"),
            }
        )
        json["resources"] = self._resources(uri)
        json["subjects"] = []
        if load_children:
            rows = _rows(self.xnat.get_json(f"/data/projects/{quote(pid)}/subjects"))
            json["subjects"] = [self._subject_json(row, pid, f"{uri}/subjects") for row in rows]
        return XnatObject("Project", json)

    def _subject_json(self, row: dict[str, Any], project: str, base: str) -> dict[str, Any]:
        sid = str(_get(row, "ID", "id"))
        uri = f"{base}/{sid}"
        return _without_none(
            {
                "id": sid,
                "label": _get(row, "label"),
                "xsiType": "xnat:subjectData",
                "uri": uri,
                "project-id": _get(row, "project") or project,
            }
        )

    def subject(self, subject_id: str, *, project: str | None = None) -> XnatObject:
        path = (
            f"/data/projects/{project}/subjects/{quote(subject_id)}"
            if project
            else f"/data/subjects/{quote(subject_id)}"
        )
        _, fields = _fields(self.xnat.get_json(path))
        sid = str(_get(fields, "ID", "id") or subject_id)
        project_id = str(_get(fields, "project") or project or "")
        uri = f"/archive/subjects/{sid}"
        json = _without_none(
            {
                "id": sid,
                "label": _get(fields, "label"),
                "xsiType": "xnat:subjectData",
                "uri": uri,
                "project-id": project_id or None,
                "group": _get(fields, "group"),
                "source": _get(fields, "src", "source"),
                "initials": _get(fields, "initials"),
            }
        )
        json["resources"] = self._resources(uri)
        rows = _rows(self.xnat.get_json(f"/data/projects/{project_id}/subjects/{sid}/experiments"))
        json["sessions"] = [
            self.experiment(str(_get(row, "ID", "id"))).json
            for row in rows
            if "session" in str(_get(row, "xsiType", "xsi_type") or "").lower()
        ]
        return XnatObject("Subject", json)

    def experiment(self, experiment_id: str, *, project: str | None = None) -> XnatObject:
        """A session (with scans, resources, assessors) or, for an assessor ID, the assessor."""
        path = (
            f"/data/projects/{project}/experiments/{quote(experiment_id)}"
            if project
            else f"/data/experiments/{quote(experiment_id)}"
        )
        xsi_type, fields = _fields(self.xnat.get_json(path))
        eid = str(_get(fields, "ID", "id") or experiment_id)
        if _get(fields, "imageSession_ID", "session_ID"):
            return self.assessor(eid, session_id=str(_get(fields, "imageSession_ID")))
        uri = f"/archive/experiments/{eid}"
        json = _without_none(
            {
                "id": eid,
                "label": _get(fields, "label"),
                "xsiType": xsi_type or None,
                "uri": uri,
                "project-id": _get(fields, "project") or project,
                "subject-id": _get(fields, "subject_ID", "subject_id"),
                "visit-id": _get(fields, "visit_id"),
            }
        )
        base = f"/data/experiments/{eid}"
        json["scans"] = [
            self._scan_json(eid, str(_get(row, "ID", "id")), row, uri, json.get("project-id"))
            for row in _rows(self.xnat.get_json(f"{base}/scans"))
        ]
        json["resources"] = self._resources(uri)
        json["assessors"] = [
            self._assessor_json(str(_get(row, "ID", "id")), eid, row, uri)
            for row in _rows(self.xnat.get_json(f"{base}/assessors"))
        ]
        return XnatObject("Session", json)

    def scan(self, session_id: str, scan_id: str) -> XnatObject:
        session_uri = f"/archive/experiments/{session_id}"
        _, fields = _fields(self.xnat.get_json(f"/data/experiments/{session_id}"))
        rows = _rows(self.xnat.get_json(f"/data/experiments/{session_id}/scans"))
        row = next((r for r in rows if str(_get(r, "ID", "id")) == scan_id), None)
        if row is None:
            raise UserError(f"session {session_id} has no scan {scan_id!r}; check the URI")
        project = _get(fields, "project")
        return XnatObject("Scan", self._scan_json(session_id, scan_id, row, session_uri, project))

    def _scan_json(
        self,
        session_id: str,
        scan_id: str,
        row: dict[str, Any],
        session_uri: str,
        project: Any,
    ) -> dict[str, Any]:
        xsi_type, fields = _fields(
            self.xnat.get_json(f"/data/experiments/{session_id}/scans/{quote(scan_id)}")
        )
        merged = {**row, **fields}
        uri = f"{session_uri}/scans/{scan_id}"
        scan_type = _get(merged, "type", "scan_type")
        json = _without_none(
            {
                "id": scan_id,
                "label": f"{scan_id} - {scan_type}",
                "xsiType": xsi_type or _get(row, "xsiType", "xsi_type"),
                "uri": uri,
                "integer-id": _as_int(scan_id),
                "scan-type": scan_type,
                "project-id": project,
                "session-id": session_id,
                "frames": _as_int(_get(merged, "frames")),
                "note": _get(merged, "note"),
                "modality": _get(merged, "modality"),
                "quality": _get(merged, "quality"),
                "scanner": _get(merged, "scanner"),
                "scanner-manufacturer": _get(merged, "scanner/manufacturer", "manufacturer"),
                "scanner-model": _get(merged, "scanner/model", "model"),
                "series-description": _get(merged, "series_description", "seriesDescription"),
                "uid": _get(merged, "UID", "uid"),
            }
        )
        json["resources"] = self._resources(uri)
        return json

    def assessor(self, assessor_id: str, *, session_id: str | None = None) -> XnatObject:
        xsi_type, fields = _fields(self.xnat.get_json(f"/data/experiments/{assessor_id}"))
        aid = str(_get(fields, "ID", "id") or assessor_id)
        parent = session_id or str(_get(fields, "imageSession_ID") or "")
        if not parent:
            raise UserError(f"{assessor_id} is not an image assessor; check the URI")
        row = {**fields, "xsiType": xsi_type}
        return XnatObject(
            "Assessor", self._assessor_json(aid, parent, row, f"/archive/experiments/{parent}")
        )

    def _assessor_json(
        self, assessor_id: str, session_id: str, row: dict[str, Any], session_uri: str
    ) -> dict[str, Any]:
        uri = f"{session_uri}/assessors/{assessor_id}"
        json = _without_none(
            {
                "id": assessor_id,
                "label": _get(row, "label"),
                "xsiType": _get(row, "xsiType", "xsi_type"),
                "uri": uri,
                "project-id": _get(row, "project"),
                "session-id": session_id,
            }
        )
        json["resources"] = self._resources(uri)
        return json

    def resource(self, parent_uri: str, label: str) -> XnatObject:
        for resource in self._resources(parent_uri):
            if label in (resource.get("label"), resource.get("id")):
                return XnatObject("Resource", resource)
        raise UserError(f"{parent_uri} has no resource {label!r}; check the URI")

    def _resources(self, parent_uri: str) -> list[dict[str, Any]]:
        base = _data_uri(parent_uri)
        try:
            rows = _rows(self.xnat.get_json(f"{base}/resources"))
        except NotFoundError:
            return []
        resources = []
        for row in rows:
            label = str(_get(row, "label") or _get(row, "xnat_abstractresource_id"))
            uri = f"{parent_uri}/resources/{label}"
            resource = _without_none(
                {
                    "id": label,
                    "label": label,
                    "xsiType": _get(row, "element_name") or "xnat:resourceCatalog",
                    "uri": uri,
                    "integer-id": _as_int(_get(row, "xnat_abstractresource_id")),
                    "parent-uri": parent_uri,
                }
            )
            resource["files"] = self._files(base, label, uri) if self.with_files else []
            resources.append(resource)
        return resources

    def _files(self, base: str, label: str, resource_uri: str) -> list[dict[str, Any]]:
        rows = _rows(self.xnat.get_json(f"{base}/resources/{quote(label)}/files"))
        files = []
        for row in rows:
            file_uri = str(_get(row, "URI", "uri") or "")
            name = unquote(file_uri.split("/files/", 1)[1]) if "/files/" in file_uri else None
            name = name or str(_get(row, "Name", "name"))
            tags = _get(row, "file_tags", "tags")
            files.append(
                _without_none(
                    {
                        "name": name,
                        "label": name,
                        "xsiType": "xnat:fileData",
                        "uri": f"{resource_uri}/files/{name}",
                        "path": name,
                        "tags": [t for t in str(tags).split(",") if t] if tags else None,
                        "format": _get(row, "file_format", "format"),
                        "content": _get(row, "file_content", "content"),
                        "size": _as_int(_get(row, "Size", "size")),
                        "checksum": _get(row, "digest", "checksum"),
                    }
                )
            )
        return files


def _uri_parts(uri: str) -> list[str]:
    path = uri.strip().split("?", 1)[0].rstrip("/")
    for prefix in ("/data/archive", "/REST/archive", "/data", "/REST", "/archive"):
        if path.startswith(prefix + "/"):
            path = path[len(prefix) :]
            break
    return [unquote(part) for part in path.strip("/").split("/") if part]


def _project_in(parts: list[str]) -> str | None:
    if len(parts) >= 2 and parts[0] == "projects" and len(parts) > 2:
        return parts[1]
    return None


def _data_uri(archive_uri: str) -> str:
    return "/data/" + "/".join(quote(part) for part in _uri_parts(archive_uri))
