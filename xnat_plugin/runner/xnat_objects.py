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
from xnat_plugin.runner.xnat_listing import (
    as_int,
    data_uri,
    item_fields,
    listing_rows,
    project_in,
    row_value,
    uri_parts,
    without_none,
)
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


class XnatObjectLoader:
    """Builds `XnatObject`s over REST. `with_files=False` skips file listings (faster)."""

    def __init__(self, xnat: JsonGetter, *, with_files: bool = True) -> None:
        self.xnat = xnat
        self.with_files = with_files

    # ----- entry point

    def load(self, uri: str, *, load_children: bool = True) -> XnatObject:
        """The object a URI names; a UserError saying what is wrong otherwise."""
        parts = uri_parts(uri)
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
            return self.experiment(parts[-1], project=project_in(parts))
        if len(parts) >= 2 and parts[-2] == "subjects":
            return self.subject(parts[-1], project=project_in(parts))
        if len(parts) == 2 and parts[0] == "projects":
            return self.project(parts[1], load_children=load_children)
        raise UserError(
            f"{uri!r} is not an XNAT object URI; use e.g. /experiments/XNAT_E00001, "
            "/projects/P, /experiments/E/scans/1 or /experiments/E/resources/LABEL"
        )

    def _experiment_id(self, parts: list[str]) -> str:
        if len(parts) >= 2 and parts[-2] == "experiments":
            experiment = parts[-1]
            project = project_in(parts)
            if project is None:
                return experiment
            # A label inside a project path: ask XNAT for the ID.
            _, fields = item_fields(
                self.xnat.get_json(f"/data/projects/{project}/experiments/{quote(experiment)}")
            )
            return str(row_value(fields, "ID", "id") or experiment)
        raise UserError(f"expected .../experiments/ID before scans or assessors in {parts}")

    # ----- one function per kind

    def project(self, project_id: str, *, load_children: bool = True) -> XnatObject:
        _, fields = item_fields(self.xnat.get_json(f"/data/projects/{quote(project_id)}"))
        pid = str(row_value(fields, "ID", "id") or project_id)
        uri = f"/archive/projects/{pid}"
        json = without_none(
            {
                "id": pid,
                "label": row_value(fields, "name") or pid,
                "xsiType": "xnat:projectData",
                "uri": uri,
                "title": row_value(fields, "name"),
                "description": row_value(fields, "description"),
                "keywords": row_value(fields, "keywords"),
            }
        )
        json["resources"] = self._resources(uri)
        json["subjects"] = []
        if load_children:
            rows = listing_rows(self.xnat.get_json(f"/data/projects/{quote(pid)}/subjects"))
            json["subjects"] = [self._subject_json(row, pid, f"{uri}/subjects") for row in rows]
        return XnatObject("Project", json)

    def _subject_json(self, row: dict[str, Any], project: str, base: str) -> dict[str, Any]:
        sid = str(row_value(row, "ID", "id"))
        uri = f"{base}/{sid}"
        return without_none(
            {
                "id": sid,
                "label": row_value(row, "label"),
                "xsiType": "xnat:subjectData",
                "uri": uri,
                "project-id": row_value(row, "project") or project,
            }
        )

    def subject(self, subject_id: str, *, project: str | None = None) -> XnatObject:
        path = (
            f"/data/projects/{project}/subjects/{quote(subject_id)}"
            if project
            else f"/data/subjects/{quote(subject_id)}"
        )
        _, fields = item_fields(self.xnat.get_json(path))
        sid = str(row_value(fields, "ID", "id") or subject_id)
        project_id = str(row_value(fields, "project") or project or "")
        uri = f"/archive/subjects/{sid}"
        json = without_none(
            {
                "id": sid,
                "label": row_value(fields, "label"),
                "xsiType": "xnat:subjectData",
                "uri": uri,
                "project-id": project_id or None,
                "group": row_value(fields, "group"),
                "source": row_value(fields, "src", "source"),
                "initials": row_value(fields, "initials"),
            }
        )
        json["resources"] = self._resources(uri)
        rows = listing_rows(
            self.xnat.get_json(f"/data/projects/{project_id}/subjects/{sid}/experiments")
        )
        json["sessions"] = [
            self.experiment(str(row_value(row, "ID", "id"))).json
            for row in rows
            if "session" in str(row_value(row, "xsiType", "xsi_type") or "").lower()
        ]
        return XnatObject("Subject", json)

    def experiment(self, experiment_id: str, *, project: str | None = None) -> XnatObject:
        """A session (with scans, resources, assessors) or, for an assessor ID, the assessor."""
        path = (
            f"/data/projects/{project}/experiments/{quote(experiment_id)}"
            if project
            else f"/data/experiments/{quote(experiment_id)}"
        )
        xsi_type, fields = item_fields(self.xnat.get_json(path))
        eid = str(row_value(fields, "ID", "id") or experiment_id)
        if row_value(fields, "imageSession_ID", "session_ID"):
            return self.assessor(eid, session_id=str(row_value(fields, "imageSession_ID")))
        uri = f"/archive/experiments/{eid}"
        json = without_none(
            {
                "id": eid,
                "label": row_value(fields, "label"),
                "xsiType": xsi_type or None,
                "uri": uri,
                "project-id": row_value(fields, "project") or project,
                "subject-id": row_value(fields, "subject_ID", "subject_id"),
                "visit-id": row_value(fields, "visit_id"),
            }
        )
        base = f"/data/experiments/{eid}"
        json["scans"] = [
            self._scan_json(eid, str(row_value(row, "ID", "id")), row, uri, json.get("project-id"))
            for row in listing_rows(self.xnat.get_json(f"{base}/scans"))
        ]
        json["resources"] = self._resources(uri)
        json["assessors"] = [
            self._assessor_json(str(row_value(row, "ID", "id")), eid, row, uri)
            for row in listing_rows(self.xnat.get_json(f"{base}/assessors"))
        ]
        return XnatObject("Session", json)

    def scan(self, session_id: str, scan_id: str) -> XnatObject:
        session_uri = f"/archive/experiments/{session_id}"
        _, fields = item_fields(self.xnat.get_json(f"/data/experiments/{session_id}"))
        rows = listing_rows(self.xnat.get_json(f"/data/experiments/{session_id}/scans"))
        row = next((r for r in rows if str(row_value(r, "ID", "id")) == scan_id), None)
        if row is None:
            raise UserError(f"session {session_id} has no scan {scan_id!r}; check the URI")
        project = row_value(fields, "project")
        return XnatObject("Scan", self._scan_json(session_id, scan_id, row, session_uri, project))

    def _scan_json(
        self,
        session_id: str,
        scan_id: str,
        row: dict[str, Any],
        session_uri: str,
        project: Any,
    ) -> dict[str, Any]:
        xsi_type, fields = item_fields(
            self.xnat.get_json(f"/data/experiments/{session_id}/scans/{quote(scan_id)}")
        )
        merged = {**row, **fields}
        uri = f"{session_uri}/scans/{scan_id}"
        scan_type = row_value(merged, "type", "scan_type")
        json = without_none(
            {
                "id": scan_id,
                "label": f"{scan_id} - {scan_type}",
                "xsiType": xsi_type or row_value(row, "xsiType", "xsi_type"),
                "uri": uri,
                "integer-id": as_int(scan_id),
                "scan-type": scan_type,
                "project-id": project,
                "session-id": session_id,
                "frames": as_int(row_value(merged, "frames")),
                "note": row_value(merged, "note"),
                "modality": row_value(merged, "modality"),
                "quality": row_value(merged, "quality"),
                "scanner": row_value(merged, "scanner"),
                "scanner-manufacturer": row_value(merged, "scanner/manufacturer", "manufacturer"),
                "scanner-model": row_value(merged, "scanner/model", "model"),
                "series-description": row_value(merged, "series_description", "seriesDescription"),
                "uid": row_value(merged, "UID", "uid"),
            }
        )
        json["resources"] = self._resources(uri)
        return json

    def assessor(self, assessor_id: str, *, session_id: str | None = None) -> XnatObject:
        xsi_type, fields = item_fields(self.xnat.get_json(f"/data/experiments/{assessor_id}"))
        aid = str(row_value(fields, "ID", "id") or assessor_id)
        parent = session_id or str(row_value(fields, "imageSession_ID") or "")
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
        json = without_none(
            {
                "id": assessor_id,
                "label": row_value(row, "label"),
                "xsiType": row_value(row, "xsiType", "xsi_type"),
                "uri": uri,
                "project-id": row_value(row, "project"),
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
        base = data_uri(parent_uri)
        try:
            rows = listing_rows(self.xnat.get_json(f"{base}/resources"))
        except NotFoundError:
            return []
        resources = []
        for row in rows:
            label = str(row_value(row, "label") or row_value(row, "xnat_abstractresource_id"))
            uri = f"{parent_uri}/resources/{label}"
            resource = without_none(
                {
                    "id": label,
                    "label": label,
                    "xsiType": row_value(row, "element_name") or "xnat:resourceCatalog",
                    "uri": uri,
                    "integer-id": as_int(row_value(row, "xnat_abstractresource_id")),
                    "parent-uri": parent_uri,
                }
            )
            resource["files"] = self._files(base, label, uri) if self.with_files else []
            resources.append(resource)
        return resources

    def _files(self, base: str, label: str, resource_uri: str) -> list[dict[str, Any]]:
        rows = listing_rows(self.xnat.get_json(f"{base}/resources/{quote(label)}/files"))
        files = []
        for row in rows:
            file_uri = str(row_value(row, "URI", "uri") or "")
            name = unquote(file_uri.split("/files/", 1)[1]) if "/files/" in file_uri else None
            name = name or str(row_value(row, "Name", "name"))
            tags = row_value(row, "file_tags", "tags")
            files.append(
                without_none(
                    {
                        "name": name,
                        "label": name,
                        "xsiType": "xnat:fileData",
                        "uri": f"{resource_uri}/files/{name}",
                        "path": name,
                        "tags": [t for t in str(tags).split(",") if t] if tags else None,
                        "format": row_value(row, "file_format", "format"),
                        "content": row_value(row, "file_content", "content"),
                        "size": as_int(row_value(row, "Size", "size")),
                        "checksum": row_value(row, "digest", "checksum"),
                    }
                )
            )
        return files
