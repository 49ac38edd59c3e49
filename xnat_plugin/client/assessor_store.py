"""Assessors on XNAT: create or replace one from its XML, read its XML back, put files in it.

XNAT takes an assessor document as the body of
`PUT /data/experiments/<session>/assessors/<label>?inbody=true`, validates it as sent against its
installed schemas (`ID` is required), creates the assessor or updates the one with that ID, and
answers with the ID. The builders of `xnat_plugin.assessors` always write one
(`assessor_id.assessor_id`).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

from xnat_plugin.client import paths
from xnat_plugin.client.browse import FileInfo
from xnat_plugin.client.connection import XnatClient
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)


def create_assessor(
    client: XnatClient, session_id: str, xml: str | bytes, *, replace: bool = False
) -> str:
    """Store the assessor document on session `session_id`; returns its XNAT ID.

    An assessor with the same label is an error unless `replace`, which deletes it (files
    included) first, so the result never mixes old and new files.
    """
    body = xml.encode("utf-8") if isinstance(xml, str) else xml
    label = _label_of(body)
    path = paths.assessor(session_id, label)
    if client.exists(path):
        if not replace:
            raise UserError(
                f"session {session_id} already has an assessor labelled {label}: "
                "choose another label or replace it"
            )
        delete_assessor(client, session_id, label)
    response = client.put(
        path,
        {"inbody": "true"},
        body=body,
        headers={"Content-Type": "text/xml"},
    )
    assessor_id = response.text.strip()
    if not assessor_id:
        assessor_id = str(client.item(path).get("data_fields", {}).get("ID", ""))
    log.info("stored assessor %s (%s) on session %s", label, assessor_id, session_id)
    return assessor_id


def read_assessor_xml(client: XnatClient, session_id: str, assessor: str) -> str:
    """The assessor's XML document as XNAT stores it (`assessor` is an ID or a label)."""
    return client.get(paths.assessor(session_id, assessor), {"format": "xml"}).text


def delete_assessor(client: XnatClient, session_id: str, assessor: str) -> None:
    client.delete(paths.assessor(session_id, assessor), {"removeFiles": "true"})


def upload_assessor_files(
    client: XnatClient,
    session_id: str,
    assessor: str,
    resource_label: str,
    folder: Path,
    *,
    show_progress: bool = True,
) -> list[FileInfo]:
    """Every file under `folder` into resource `resource_label` of the assessor, MD5-checked."""
    return upload_folder(
        client,
        paths.assessor(session_id, assessor),
        resource_label,
        folder,
        show_progress=show_progress,
    )


def _label_of(xml: bytes) -> str:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise UserError(f"assessor XML is not well-formed ({exc}): fix the document") from exc
    label = root.get("label")
    if not label:
        raise UserError(f"assessor XML root {root.tag} has no label attribute: add one")
    return label
