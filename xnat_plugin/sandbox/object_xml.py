"""Answering a read of one object (`?format=xml`, else XNAT's JSON item) from its stored values
(`object_document`); assessors keep the document they were given. A document is written as
XNAT's `SAXWriter` writes it: indented, each nested item led by its hidden fields unless the
query conceals them (`hidden_fields`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from fastapi import Response

from xnat_plugin.sandbox.hidden_fields import conceal_requested, indented, with_hidden_fields
from xnat_plugin.sandbox.listing import item_response
from xnat_plugin.sandbox.object_document import item_json, write_document
from xnat_plugin.sandbox.xml_validation import PREFIXES, XSI

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

for _uri, _prefix in PREFIXES.items():
    ET.register_namespace(_prefix, _uri)
ET.register_namespace("xsi", XSI)


def xml_text(element: ET.Element) -> str:
    return XML_DECLARATION + ET.tostring(element, encoding="unicode")


def document_response(query: dict[str, str], xsi_type: str, document: ET.Element) -> Response:
    """A document of `xsi_type` as XNAT answers it (`SecureResource.representItem`)."""
    if not conceal_requested(query):
        with_hidden_fields(xsi_type, document)
    return Response(xml_text(indented(document)), media_type="text/xml")


def object_response(
    query: dict[str, str],
    xsi_type: str,
    values: Mapping[str, str],
    *,
    start_date: str = "",
    extra: Mapping[str, list[ET.Element]] | None = None,
) -> Response:
    """The object as `?format=xml` (its document) or JSON (`data_fields` + `children`)."""
    if (query.get("format") or "").lower() == "xml":
        return document_response(query, xsi_type, write_document(xsi_type, values, extra))
    data_fields, children = item_json(xsi_type, values)
    return item_response(xsi_type, data_fields, children, start_date=start_date)
