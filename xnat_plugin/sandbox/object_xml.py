"""`?format=xml` for objects the sandbox stores as rows (assessors keep their uploaded XML)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from fastapi import Response

NAMESPACES = {"xnat": "http://nrg.wustl.edu/xnat", "icr": "http://icr.ac.uk/icr"}
ROOT_ELEMENTS = {
    "xnat:projectData": "xnat:Project",
    "xnat:subjectData": "xnat:Subject",
    "xnat:ctSessionData": "xnat:CTSession",
    "xnat:mrSessionData": "xnat:MRSession",
    "xnat:ctScanData": "xnat:CTScan",
    "xnat:mrScanData": "xnat:MRScan",
    "xnat:imageScanData": "xnat:CTScan",
    "xnat:resourceCatalog": "xnat:ResourceCatalog",
}
ATTRIBUTES = {
    "ID",
    "label",
    "project",
    "secondary_ID",
    "type",
    "UID",
    "modality",
    "URI",
    "format",
    "content",
    "file_count",
    "file_size",
}
# Row columns that are the catalogue's bookkeeping, not part of the XNAT document.
SKIP = {"insert_date", "insert_user", "xnat_imagescandata_id", "URI", "pi_firstname", "pi_lastname"}


def render(xsi_type: str, data: dict[str, Any]) -> str:
    root = ROOT_ELEMENTS.get(xsi_type, xsi_type)
    namespaces = " ".join(f'xmlns:{p}="{u}"' for p, u in NAMESPACES.items())
    attributes = "".join(
        f" {key}={quoteattr(str(value))}"
        for key, value in data.items()
        if key in ATTRIBUTES and key not in SKIP and value not in (None, "")
    )
    elements = "".join(
        f"<xnat:{key}>{escape(str(value))}</xnat:{key}>"
        for key, value in data.items()
        if key not in ATTRIBUTES
        and key not in SKIP
        and value not in (None, "")
        and key.replace("_", "").isalnum()
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} {namespaces} '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"{attributes}>{elements}</{root}>'
    )


def response(xsi_type: str, data: dict[str, Any]) -> Response:
    return Response(render(xsi_type, data), media_type="text/xml")
