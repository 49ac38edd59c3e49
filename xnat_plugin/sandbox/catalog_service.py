"""The sandbox's counterpart of XNAT's `CatalogService` (`DefaultCatalogService`): what the
Container Service calls in-process when it finalizes a container, and what
`PUT|POST /xapi/archive/upload/xml` (`CatalogApi.uploadXml`) exposes.

`insert_xml_object` validates the document exactly as sent (`XMLValidator`) before anything
else: an assessor without `ID`, or without `xnat:imageSession_ID`, is refused there, and no ID
is generated for it. It then creates the object, or updates the one with that ID.
"""

from __future__ import annotations

from dataclasses import dataclass

from xnat_plugin.sandbox import assessor_records, catalog, xsi_types
from xnat_plugin.sandbox.auth import User
from xnat_plugin.sandbox.db import Database
from xnat_plugin.sandbox.safe_paths import check_xnat_id
from xnat_plugin.sandbox.xml_validation import InvalidXml, parse_document, validate_as_sent

# `CatalogApi.callInsertXmlObject` wraps every parser or validator error in this.
XML_ERROR_PREFIX = "An error occurred processing the submitted XML: "


class CatalogServiceError(Exception):
    """The catalog service refused the document; the message is XNAT's."""


@dataclass(frozen=True)
class InsertedItem:
    archive_uri: str  # `/archive/experiments/<ID>`, what `UriParserUtils.getArchiveUri` gives
    object_id: str
    created: bool


def insert_xml_object(db: Database, user: User, data: bytes) -> InsertedItem:
    """Store the object an XML document describes, as `DefaultCatalogService.insertXmlObject`."""
    try:
        document = parse_document(data)
        validate_as_sent(document)
    except InvalidXml as exc:
        raise CatalogServiceError(XML_ERROR_PREFIX + str(exc)) from exc
    root, xsi_type = document.root, document.xsi_type
    if not xsi_types.is_assessor_type(xsi_type):
        raise CatalogServiceError(
            f"this XNAT stores {xsi_type} documents over its REST paths only; "
            "/xapi/archive/upload/xml takes image assessors"
        )
    assessor_id = root.get("ID", "")
    persisted = catalog.get_experiment(db, None, assessor_id)
    if persisted is not None and not xsi_types.derives_from(xsi_type, persisted["xsi_type"]):
        raise CatalogServiceError(
            f"Trying to insert XML for an object of type '{xsi_type}' and ID '{assessor_id}', "
            f"but that ID already exists with type '{persisted['xsi_type']}', which is not "
            "compatible."
        )
    session_id = assessor_records.session_reference(root)
    session = catalog.get_experiment(db, None, session_id)
    if session is None or session["session_id"]:
        raise CatalogServiceError(f"imageSession_ID {session_id} is not an image session here")
    project = root.get("project") or session["project"]
    root.set("project", project)
    if catalog.get_project(db, project) is None:
        raise CatalogServiceError(f"project {project} does not exist")
    # XNAT saves without a permission check here (`SaveItemHelper.unauthorizedSave`); the
    # sandbox asks for write access to the project, as the Container Service's launch does.
    if not user.can_write(project):
        raise PermissionError(f"user {user.login} may not write to project {project}")
    if persisted is not None and persisted["project"] != project:
        raise CatalogServiceError("Project must be modified through separate URI.")
    if not root.get("label"):
        root.set("label", assessor_id)
    check_xnat_id("assessor", assessor_id)
    check_xnat_id("assessor", root.get("label", ""))
    with db.write() as conn:
        try:
            stored = assessor_records.store(
                db, conn, root, xsi_type, session, persisted, user.login
            )
        except assessor_records.AssessorConflict as exc:
            raise CatalogServiceError(str(exc)) from exc
    assessor_records.announce(stored, root, xsi_type, session, user.login)
    return InsertedItem(
        f"/archive/experiments/{stored.assessor_id}", stored.assessor_id, stored.created
    )
