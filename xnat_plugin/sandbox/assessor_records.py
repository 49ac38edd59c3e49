"""Storing an image assessor's row from its XML document, the one place both ways in go through:
XNAT's REST handler (`ExptAssessmentResource`, which fills in ID, project, label and session
before it validates) and its catalog service (`DefaultCatalogService.insertXmlObject`, which
validates the document exactly as sent). Either way an `ImageAssessorEvent` is published when
the row is created, before any resource of the assessor exists.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from xnat_plugin.sandbox import catalog, events, identifiers
from xnat_plugin.sandbox.db import Database
from xnat_plugin.sandbox.object_document import document_values
from xnat_plugin.sandbox.xml_validation import PREFIXES, XSI

log = logging.getLogger(__name__)
XNAT_NS = "http://nrg.wustl.edu/xnat"
SESSION_ID_TAG = f"{{{XNAT_NS}}}imageSession_ID"

for _uri, _prefix in PREFIXES.items():
    ET.register_namespace(_prefix, _uri)
ET.register_namespace("xsi", XSI)


# Kept in the row's columns, not among its values.
_IDENTITY = ("ID", "label", "project", "imageSession_ID")


class AssessorConflict(ValueError):
    """The document names an object it may not become (another type, another session)."""


@dataclass(frozen=True)
class StoredAssessor:
    assessor_id: str
    created: bool


def session_reference(root: ET.Element) -> str:
    element = root.find(SESSION_ID_TAG)
    return (element.text or "").strip() if element is not None else ""


def set_session_reference(root: ET.Element, session_id: str) -> None:
    element = root.find(SESSION_ID_TAG)
    if element is not None:
        element.text = session_id


def existing_assessor(db: Database, assessor_id: str, project: str, label: str) -> Any:
    """The assessor a document updates: the one with its ID, else its label in the project."""
    if assessor_id:
        row = catalog.get_experiment(db, None, assessor_id)
        if row is not None:
            return row
    return db.query_one(
        "SELECT * FROM experiments WHERE project = ? AND label = ?", (project, label)
    )


def store(
    db: Database,
    conn: sqlite3.Connection,
    root: ET.Element,
    xsi_type: str,
    session: Any,
    existing: Any,
    user: str,
    extra_fields: dict[str, Any] | None = None,
) -> StoredAssessor:
    """Insert (or update `existing`) the assessor `root` describes; its `ID`, `project`, `label`
    and session reference are already final. Call inside `db.write()`."""
    del db  # the connection carries the transaction
    fields = {
        path: value
        for path, value in document_values(xsi_type, root).items()
        if path not in _IDENTITY
    }
    fields.update(extra_fields or {})
    xml_text = ET.tostring(root, encoding="unicode")
    label = root.get("label", "")
    if existing is not None:
        conn.execute(
            "UPDATE experiments SET xml = ?, fields = ?, label = ?, xsi_type = ? WHERE id = ?",
            (xml_text, json.dumps(fields), label, xsi_type, existing["id"]),
        )
        return StoredAssessor(existing["id"], False)
    assessor_id = root.get("ID", "")
    clash = conn.execute(
        "SELECT id FROM experiments WHERE project = ? AND label = ?", (root.get("project"), label)
    ).fetchone()
    if clash is not None:
        raise AssessorConflict(
            f"label {label} is already used in project {root.get('project')} by {clash['id']}"
        )
    identifiers.claim(conn, "experiment", assessor_id)
    conn.execute(
        "INSERT INTO experiments (id, project, subject_id, label, xsi_type, session_id, "
        "fields, xml, insert_date, insert_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            assessor_id,
            root.get("project"),
            session["subject_id"],
            label,
            xsi_type,
            session["id"],
            json.dumps(fields),
            xml_text,
            catalog.now_text(),
            user,
        ),
    )
    return StoredAssessor(assessor_id, True)


def announce(
    stored: StoredAssessor, root: ET.Element, xsi_type: str, session: Any, user: str
) -> None:
    """Log the write and publish `ImageAssessorEvent` CREATED for a new assessor (after commit)."""
    if not stored.created:
        log.info("updated %s %s (%s)", xsi_type, root.get("label"), stored.assessor_id)
        return
    log.info(
        "created %s %s (%s) on %s", xsi_type, root.get("label"), stored.assessor_id, session["id"]
    )
    events.publish(
        events.assessor_created(
            str(root.get("project")),
            session["id"],
            stored.assessor_id,
            str(root.get("label")),
            xsi_type,
            user,
        )
    )
