"""Image assessors (`icr:roiCollectionData`, `xnat:qcAssessmentData`, …) on a session, over REST
(`ExptAssessmentResource`, `ProjSubExptAsstList`).

A PUT carries an XML document (body, `?inbody=true`, or a multipart file) or only query fields
(`?xsiType=…&label=…`, what xnatpy's `create_assessor` sends). As XNAT's REST handler does, the
sandbox then fills in what the document leaves out before it checks it: the label from the URL,
the project from the URL, the session from the URL (whatever the document said), and a new ID
when none is given; then it validates. A document whose ID (or label) names an existing
assessor updates it. XNAT's catalog service, which validates the document exactly as sent, is
`routes_archive_xml.py`.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Response

from xnat_plugin.sandbox import (
    archive,
    archive_changes,
    assessor_records,
    catalog,
    identifiers,
    listing_columns,
    object_views,
    object_xml,
    xsi_types,
)
from xnat_plugin.sandbox.call import Call
from xnat_plugin.sandbox.listing import result_set
from xnat_plugin.sandbox.resolve import Resolved
from xnat_plugin.sandbox.routes_subjects import wanted_id
from xnat_plugin.sandbox.safe_paths import check_xnat_id
from xnat_plugin.sandbox.xml_validation import (
    InvalidXml,
    UnknownElement,
    parse_document,
    parse_xml,
    schema_order,
    validate,
)

log = logging.getLogger(__name__)


def list_assessors(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None
    rows = call.db.query(
        "SELECT * FROM experiments WHERE session_id = ? ORDER BY id",
        (found.experiment["id"],),
    )
    subject = catalog.get_subject(call.db, None, found.experiment["subject_id"])
    listed = [object_views.experiment_row(r, subject, found.experiment) for r in rows]
    table = listing_columns.table(listed, "assessor", object_views.ASSESSOR_DEFAULTS, call.query)
    return result_set(table, call.fmt, "Assessors")


def put_assessor(call: Call, found: Resolved) -> Response:
    """Create or update an assessor from an XML body or from query fields."""
    assert found.experiment is not None and found.project is not None
    body = call.body_bytes()
    if body.strip():
        return _put_assessor_xml(call, found, body)
    xsi_type = call.query.get("xsiType")
    if found.assessor is None and not xsi_type:
        raise HTTPException(417, "Need POST Contents")
    if xsi_type and not xsi_types.is_assessor_type(xsi_type):
        raise HTTPException(422, "Only xnat:Subject documents can be PUT to this address.")
    assert xsi_type is not None or found.assessor is not None
    fields = call.values_for("assessor", xsi_type or found.assessor["xsi_type"])  # type: ignore[index]
    fields.pop("project", None)
    chosen = wanted_id(fields)
    if found.assessor is not None:
        if chosen and chosen != found.assessor["id"]:
            raise HTTPException(400, "ID cannot be modified")
        # the query's label is applied to the stored item before the checks
        # (`ExptAssessmentResource.handlePut`: loadItem over getCurrentDBVersion)
        if fields.pop("label", found.assessor["label"]) != found.assessor["label"]:
            raise HTTPException(400, "Label must be modified through separate URI.")
        with call.db.write() as conn:
            catalog.update_fields(conn, "experiments", {"id": found.assessor["id"]}, fields)
        return Response(found.assessor["id"], status_code=200, media_type="text/plain")
    assert xsi_type is not None
    label = fields.pop("label", None) or call.path.assessor
    assert label is not None
    root = ET.Element(xsi_types.root_tag(xsi_type))
    return _store(call, found, root, xsi_type, label, chosen, None, fields)


def _put_assessor_xml(call: Call, found: Resolved, body: bytes) -> Response:
    assert found.experiment is not None and found.project is not None
    try:
        document = parse_document(body)
    except InvalidXml as exc:
        raise HTTPException(422, f"An error occurred parsing the XML: {exc}") from exc
    if not xsi_types.is_assessor_type(document.xsi_type):
        raise HTTPException(422, "Only xnat:Subject documents can be PUT to this address.")
    root = document.root
    project = root.get("project") or found.project["id"]
    if project != found.project["id"]:
        raise HTTPException(409, "Project must be modified through separate URI.")
    label = root.get("label") or call.path.assessor or ""
    existing = assessor_records.existing_assessor(call.db, root.get("ID", ""), project, label)
    if existing is not None and existing["session_id"] != found.experiment["id"]:
        raise HTTPException(409, f"{existing['id']} is not an assessor of {found.experiment['id']}")
    return _store(
        call,
        found,
        root,
        document.xsi_type,
        label,
        root.get("ID"),
        existing,
        {},
        document.namespaces,
    )


def _store(
    call: Call,
    found: Resolved,
    root: ET.Element,
    xsi_type: str,
    label: str,
    chosen: str | None,
    existing: Any,
    fields: dict[str, Any],
    namespaces: dict[str, str] | None = None,
) -> Response:
    """`ExptAssessmentResource.handlePut` from "MATCH SESSION" on: the URL's session, a new ID
    when the document has none, then the unexpected-change checks and validation: an element
    the type does not have is 422 (SAXReader's "Invalid Element"), a missing or malformed
    value 400 (`assessor.validate()`)."""
    assert found.experiment is not None and found.project is not None
    session = found.experiment
    check_xnat_id("assessor", label)
    if existing is not None:
        if chosen and chosen != existing["id"]:
            raise HTTPException(400, "ID cannot be modified")
        if label != existing["label"]:
            raise HTTPException(400, "Label must be modified through separate URI.")
    root.set("project", found.project["id"])
    root.set("label", label)
    _set_session(root, session["id"])
    with call.db.write() as conn:
        if existing is not None:
            root.set("ID", existing["id"])
        elif chosen:
            # A deleted assessor's ID may be given again (XNAT keeps it only from its generator).
            check_xnat_id("assessor", chosen)
            root.set("ID", chosen)
        else:
            root.set("ID", identifiers.generate(conn, "experiment"))
        schema_order(root)
        try:
            validate(root, namespaces)
        except UnknownElement as exc:
            raise HTTPException(422, str(exc)) from exc
        except InvalidXml as exc:
            raise HTTPException(400, str(exc)) from exc
        try:
            stored = assessor_records.store(
                call.db,
                conn,
                root,
                xsi_type,
                session,
                existing,
                call.user.login,
                fields,
            )
        except assessor_records.AssessorConflict as exc:
            raise HTTPException(409, str(exc)) from exc
    assessor_records.announce(stored, root, xsi_type, session, call.user.login)
    return Response(
        stored.assessor_id,
        status_code=201 if stored.created else 200,
        media_type="text/plain",
    )


def _set_session(root: ET.Element, session_id: str) -> None:
    """The URL's session is the assessor's session (`assessor.setImagesessionId(assessed.getId())`)."""
    element = root.find(assessor_records.SESSION_ID_TAG)
    if element is None:
        element = ET.Element(assessor_records.SESSION_ID_TAG)
        root.insert(_session_position(root), element)
    element.text = session_id


def _session_position(root: ET.Element) -> int:
    """Where `xnat:imageSession_ID` goes in an assessor: after the experimentData and
    imageAssessorData elements that precede it in the schema (`in`, `out`, …)."""
    before = {
        "date",
        "time",
        "duration",
        "delay",
        "note",
        "investigator",
        "validation",
        "resources",
        "fields",
        "acquisition_site",
        "sharing",
        "in",
        "out",
    }
    position = 0
    for index, child in enumerate(root):
        if child.tag.rsplit("}", 1)[-1] in before:
            position = index + 1
    return position


def get_assessor(call: Call, found: Resolved) -> Response:
    assert found.assessor is not None
    row = found.assessor
    values = object_views.experiment_values(row)
    if call.fmt == "xml":
        if row["xml"]:
            document = parse_xml(row["xml"].encode())
            return object_xml.document_response(call.query, row["xsi_type"], document)
        return object_xml.object_response(call.query, row["xsi_type"], values)
    return object_xml.object_response(
        call.query, row["xsi_type"], values, start_date=row["insert_date"]
    )


def delete_assessor(call: Call, found: Resolved) -> Response:
    assert found.assessor is not None
    # its label folder and its ID folder (`archive.assessor_folder`), and any other folder a
    # resource row names
    owner = f"experiment:{found.assessor['id']}"
    named = [
        Path(row["directory"])
        for row in call.db.query("SELECT directory FROM resources WHERE owner = ?", (owner,))
    ]
    folders = [
        archive.archive_path(call.data_dir, folder)
        for folder in dict.fromkeys([*archive.assessor_directories(found), *named])
    ]
    with call.db.write() as conn:
        conn.execute("DELETE FROM experiments WHERE id = ?", (found.assessor["id"],))
        conn.execute(
            "DELETE FROM files WHERE resource_id IN (SELECT id FROM resources WHERE owner = ?)",
            (owner,),
        )
        conn.execute("DELETE FROM resources WHERE owner = ?", (owner,))
        for folder in folders:
            archive_changes.discard_from_archive(call.db, call.data_dir, folder)
    return Response(status_code=200)
