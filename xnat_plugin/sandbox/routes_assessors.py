"""Image assessors (`icr:roiCollectionData`, `xnat:qcAssessmentData`, …) on a session.

Created from an XML document (PUT/POST body, or `?inbody=true`) validated against the
sandbox's XSDs, or from query fields (`?xsiType=…&label=…`, what xnatpy's `create_assessor`
sends). As in XNAT: the ID is generated when it is the only thing missing, and a document whose
ID (or label) names an existing assessor updates it.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from typing import Any

from fastapi import HTTPException, Response

from xnat_plugin.sandbox import archive, archive_changes, catalog, events, object_xml
from xnat_plugin.sandbox.call import Call
from xnat_plugin.sandbox.listing import item_response, result_set
from xnat_plugin.sandbox.resolve import Resolved
from xnat_plugin.sandbox.safe_paths import check_xnat_id
from xnat_plugin.sandbox.xml_validation import (
    PREFIXES,
    XSI,
    InvalidXml,
    document_namespaces,
    is_assessor_type,
    parse_xml,
    prefixed,
    validate,
    xsi_type_of,
)

log = logging.getLogger(__name__)
XNAT_NS = "http://nrg.wustl.edu/xnat"

for _uri, _prefix in PREFIXES.items():
    ET.register_namespace(_prefix, _uri)
ET.register_namespace("xsi", XSI)


def list_assessors(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None
    rows = call.db.query(
        "SELECT * FROM experiments WHERE session_id = ? ORDER BY id", (found.experiment["id"],)
    )
    base = f"/data/experiments/{found.experiment['id']}/assessors"
    listing = [{**catalog.experiment_row_json(r), "URI": f"{base}/{r['id']}"} for r in rows]
    return result_set(listing, call.fmt, "Assessors", call.query)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _element_json(element: ET.Element, field: str) -> dict[str, Any]:
    """XNAT's JSON for a nested element: its attributes and text children as data_fields."""
    data: dict[str, Any] = {k: v for k, v in element.attrib.items() if not k.startswith("{")}
    children: list[dict[str, Any]] = []
    for child in element:
        name = _local(child.tag)
        if len(child) == 0 and not child.attrib:
            data[name] = (child.text or "").strip()
        elif len(child) == 0 and child.get("name") is not None:
            children.append({"field": name, "items": [_element_json(child, name)]})
        else:
            for grandchild in child if _is_wrapper(child) else [child]:
                sub = f"{name}/{_local(grandchild.tag)}" if _is_wrapper(child) else name
                children.append({"field": sub, "items": [_element_json(grandchild, sub)]})
    if element.text and element.text.strip() and len(element) == 0:
        data.setdefault("value", element.text.strip())
    xsi_type = element.get(f"{{{XSI}}}type") or field
    return {
        "children": children,
        "meta": {"isHistory": False, "xsi:type": xsi_type},
        "data_fields": data,
    }


def _is_wrapper(element: ET.Element) -> bool:
    """`<scans><scan/>…</scans>`: a plural element that only holds its items."""
    return not element.attrib and len(element) > 0 and all(len(c) or c.attrib for c in element)


def _fields_from_xml(root: ET.Element) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    converted = _element_json(root, "")
    data = converted["data_fields"]
    for key in ("ID", "label", "project", "imageSession_ID"):
        data.pop(key, None)
    return data, converted["children"]


def put_assessor(call: Call, found: Resolved) -> Response:
    """Create or update an assessor from an XML body or from query fields."""
    assert found.experiment is not None and found.project is not None
    body = call.body_bytes()
    if body.strip():
        return _put_assessor_xml(call, found, body)
    xsi_type = call.query.get("xsiType")
    if found.assessor is None and not xsi_type:
        raise HTTPException(400, "an assessor needs an XML body or ?xsiType=…")
    if xsi_type and not is_assessor_type(xsi_type):
        raise HTTPException(400, f"xsiType {xsi_type!r} is not an image assessor type")
    fields = call.fields_for(xsi_type, "xnat:imageAssessorData", "xnat:experimentData")
    if found.assessor is not None:
        fields.pop("label", None)
        with call.db.write() as conn:
            catalog.update_fields(conn, "experiments", {"id": found.assessor["id"]}, fields)
        return Response(found.assessor["id"], status_code=200, media_type="text/plain")
    label = fields.pop("label", call.path.assessor)
    assert xsi_type is not None and label is not None
    return _insert(call, found, None, label, xsi_type, fields, None)


def _insert(
    call: Call,
    found: Resolved,
    assessor_id: str | None,
    label: str,
    xsi_type: str,
    fields: dict[str, Any],
    xml_text: str | None,
    root: ET.Element | None = None,
) -> Response:
    assert found.experiment is not None and found.project is not None
    check_xnat_id("assessor", label)
    if assessor_id is not None:
        check_xnat_id("assessor", assessor_id)
    with call.db.write() as conn:
        clash = conn.execute(
            "SELECT id FROM experiments WHERE project = ? AND label = ?",
            (found.project["id"], label),
        ).fetchone()
        if clash is not None:
            raise HTTPException(
                409,
                f"label {label} is already used in project {found.project['id']} by {clash['id']}",
            )
        if assessor_id is None:
            assessor_id = catalog.new_experiment_id(call.db, conn)
        elif conn.execute("SELECT 1 FROM experiments WHERE id = ?", (assessor_id,)).fetchone():
            raise HTTPException(409, f"ID {assessor_id} belongs to another experiment")
        if root is not None:
            root.set("ID", assessor_id)
            xml_text = ET.tostring(root, encoding="unicode")
        conn.execute(
            "INSERT INTO experiments (id, project, subject_id, label, xsi_type, session_id, "
            "fields, xml, insert_date, insert_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                assessor_id,
                found.project["id"],
                found.experiment["subject_id"],
                label,
                xsi_type,
                found.experiment["id"],
                json.dumps(fields),
                xml_text,
                catalog.now_text(),
                call.user.login,
            ),
        )
    log.info("created %s %s (%s) on %s", xsi_type, label, assessor_id, found.experiment["id"])
    events.publish(
        events.assessor_created(
            found.project["id"],
            found.experiment["id"],
            assessor_id,
            label,
            xsi_type,
            call.user.login,
        )
    )
    return Response(assessor_id, status_code=201, media_type="text/plain")


def _put_assessor_xml(call: Call, found: Resolved, body: bytes) -> Response:
    assert found.experiment is not None and found.project is not None
    try:
        root = parse_xml(body)
        namespaces = document_namespaces(body)
        xsi_type = xsi_type_of(root)
        if not is_assessor_type(xsi_type):
            raise InvalidXml(f"{xsi_type} is not an image assessor type")
        label = root.get("label") or call.path.assessor
        if not label:
            raise InvalidXml("the assessor has no label")
        root.set("label", label)
        root.set("project", found.project["id"])
        existing = None
        if root.get("ID"):
            existing = catalog.get_experiment(call.db, None, root.get("ID", ""))
        if existing is None:
            existing = catalog.get_experiment(call.db, found.project["id"], label)
            if existing is not None and root.get("ID") and root.get("ID") != existing["id"]:
                existing = None  # a different ID with a used label: the insert reports it
        if existing is not None and existing["session_id"] != found.experiment["id"]:
            raise HTTPException(
                409, f"{existing['id']} is not an assessor of {found.experiment['id']}"
            )
        # XNAT fills in the ID when it is the only thing missing; validate with it in place.
        root.set("ID", existing["id"] if existing is not None else root.get("ID") or "PENDING")
        session_ref = root.find(f"{{{XNAT_NS}}}imageSession_ID")
        if session_ref is not None and (session_ref.text or "").strip() in (
            found.experiment["label"],
        ):
            session_ref.text = found.experiment["id"]
        validate(root, namespaces)
        if session_ref is not None and (session_ref.text or "").strip() != found.experiment["id"]:
            raise InvalidXml(
                f"imageSession_ID {session_ref.text!r} is not the session "
                f"{found.experiment['id']} this assessor is put under"
            )
    except InvalidXml as exc:
        raise HTTPException(400, str(exc)) from exc
    fields, _ = _fields_from_xml(root)
    check_xnat_id("assessor", label)
    if existing is not None:
        with call.db.write() as conn:
            conn.execute(
                "UPDATE experiments SET xml = ?, fields = ?, label = ?, xsi_type = ? WHERE id = ?",
                (
                    ET.tostring(root, encoding="unicode"),
                    json.dumps(fields),
                    label,
                    xsi_type,
                    existing["id"],
                ),
            )
        return Response(existing["id"], status_code=200, media_type="text/plain")
    wanted_id = None if root.get("ID") == "PENDING" else root.get("ID")
    return _insert(call, found, wanted_id, label, xsi_type, fields, None, root)


def get_assessor(call: Call, found: Resolved) -> Response:
    assert found.assessor is not None
    row = found.assessor
    data = catalog.experiment_row_json(row)
    data.pop("xsiType", None)
    if call.fmt == "xml":
        if row["xml"]:
            return Response(
                '<?xml version="1.0" encoding="UTF-8"?>\n' + row["xml"], media_type="text/xml"
            )
        return object_xml.response(row["xsi_type"], data)
    children: list[dict[str, Any]] = []
    if row["xml"]:
        xml_fields, children = _fields_from_xml(ET.fromstring(row["xml"]))
        data = {**xml_fields, **data}
    return item_response(row["xsi_type"], data, children, start_date=row["insert_date"])


def delete_assessor(call: Call, found: Resolved) -> Response:
    assert found.assessor is not None
    folder = archive.object_directory(call.data_dir, found)
    with call.db.write() as conn:
        conn.execute("DELETE FROM experiments WHERE id = ?", (found.assessor["id"],))
        owner = f"experiment:{found.assessor['id']}"
        conn.execute(
            "DELETE FROM files WHERE resource_id IN (SELECT id FROM resources WHERE owner = ?)",
            (owner,),
        )
        conn.execute("DELETE FROM resources WHERE owner = ?", (owner,))
        archive_changes.discard_from_archive(call.db, call.data_dir, folder)
    return Response(status_code=200)


__all__ = ["delete_assessor", "get_assessor", "list_assessors", "prefixed", "put_assessor"]
