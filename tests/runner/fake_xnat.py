"""A tiny in-memory XNAT that answers the REST reads `XnatObjectLoader` sends.

Only for resolution unit tests; end-to-end tests use the sandbox server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xnat_plugin.runner.xnat_rest import NotFoundError


@dataclass
class FakeScan:
    id: str
    type: str
    resources: dict[str, list[str]] = field(default_factory=dict)
    modality: str = "CT"
    frames: int = 3
    description: str | None = None  # the series description; default "<type> series"


@dataclass
class FakeSession:
    id: str
    label: str
    project: str = "P1"
    subject: str = "XNAT_S00001"
    xsi_type: str = "xnat:ctSessionData"
    scans: list[FakeScan] = field(default_factory=list)
    assessors: list[tuple[str, str, str]] = field(default_factory=list)  # id, label, xsiType


def _listing(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"ResultSet": {"Result": rows}}


def _item(xsi_type: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"items": [{"meta": {"xsi:type": xsi_type}, "data_fields": fields, "children": []}]}


class FakeXnat:
    def __init__(self, *sessions: FakeSession) -> None:
        self.sessions = {s.id: s for s in sessions}
        self.requests: list[str] = []

    def get_json(self, uri: str, query: Any = None) -> Any:
        self.requests.append(uri)
        parts = uri.removeprefix("/data/").split("/")
        if parts[0] == "projects" and len(parts) == 2:
            return _item("xnat:projectData", {"ID": parts[1], "name": f"{parts[1]} name"})
        if parts[0] == "projects" and parts[2:] == ["subjects"]:
            subjects = {s.subject for s in self.sessions.values() if s.project == parts[1]}
            return _listing([{"ID": s, "label": s, "project": parts[1]} for s in sorted(subjects)])
        if parts[0] == "projects" and parts[-1] == "resources":
            return _listing([])
        if parts[0] != "experiments":
            raise NotFoundError(uri)
        session = self.sessions.get(parts[1])
        if session is None:
            for candidate in self.sessions.values():
                for assessor_id, label, xsi in candidate.assessors:
                    if assessor_id == parts[1] and len(parts) == 2:
                        return _item(
                            xsi,
                            {
                                "ID": assessor_id,
                                "label": label,
                                "project": candidate.project,
                                "imageSession_ID": candidate.id,
                            },
                        )
            raise NotFoundError(uri)
        rest = parts[2:]
        if not rest:
            return _item(
                session.xsi_type,
                {
                    "ID": session.id,
                    "label": session.label,
                    "project": session.project,
                    "subject_ID": session.subject,
                },
            )
        if rest == ["scans"]:
            return _listing(
                [
                    {
                        "ID": s.id,
                        "type": s.type,
                        "xsiType": "xnat:ctScanData",
                        "series_description": s.description or f"{s.type} series",
                    }
                    for s in session.scans
                ]
            )
        if rest == ["assessors"]:
            return _listing(
                [
                    {"ID": a, "label": lab, "xsiType": x, "project": session.project}
                    for a, lab, x in session.assessors
                ]
            )
        if rest == ["resources"] or (rest[0] == "assessors" and rest[-1] == "resources"):
            return _listing([])
        scan = next((s for s in session.scans if s.id == rest[1]), None)
        if rest[0] != "scans" or scan is None:
            raise NotFoundError(uri)
        if len(rest) == 2:
            return _item(
                "xnat:ctScanData",
                {
                    "ID": scan.id,
                    "type": scan.type,
                    "modality": scan.modality,
                    "frames": scan.frames,
                    "quality": "usable",
                    "note": "a note",
                },
            )
        if rest[2:] == ["resources"]:
            return _listing(
                [
                    {
                        "label": label,
                        "xnat_abstractresource_id": 10 + i,
                        "element_name": "xnat:resourceCatalog",
                    }
                    for i, label in enumerate(scan.resources)
                ]
            )
        if len(rest) == 5 and rest[4] == "files":
            names = scan.resources[rest[3]]
            return _listing(
                [
                    {
                        "Name": n,
                        "Size": 4,
                        "digest": "abc",
                        "URI": f"/data/experiments/{session.id}/scans/{scan.id}/resources/{rest[3]}/files/{n}",
                    }
                    for n in names
                ]
            )
        raise NotFoundError(uri)
