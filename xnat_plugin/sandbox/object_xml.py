"""Answering a read of one object (`?format=xml`, else XNAT's JSON item) from its stored values
(`object_document`); assessors keep the document they were given."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from fastapi import Response

from xnat_plugin.sandbox.listing import item_response
from xnat_plugin.sandbox.object_document import item_json, write_document
from xnat_plugin.sandbox.xml_validation import PREFIXES, XSI

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

for _uri, _prefix in PREFIXES.items():
    ET.register_namespace(_prefix, _uri)
ET.register_namespace("xsi", XSI)


def xml_text(element: ET.Element) -> str:
    return XML_DECLARATION + ET.tostring(element, encoding="unicode")


def object_response(
    fmt: str | None,
    xsi_type: str,
    values: Mapping[str, str],
    *,
    start_date: str = "",
    extra: Mapping[str, list[ET.Element]] | None = None,
) -> Response:
    """The object as `?format=xml` (its document) or JSON (`data_fields` + `children`)."""
    if (fmt or "").lower() == "xml":
        document = write_document(xsi_type, values, extra)
        return Response(xml_text(document), media_type="text/xml")
    data_fields, children = item_json(xsi_type, values)
    return item_response(xsi_type, data_fields, children, start_date=start_date)
