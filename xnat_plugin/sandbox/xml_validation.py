"""Validate uploaded XNAT documents against the sandbox's own XSDs (`schemas/`)."""

from __future__ import annotations

import io
import threading
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

import xmlschema

SCHEMA_DIR = Path(__file__).parent / "schemas"
# `/xapi/schemas/<name>` serves these files.
SCHEMA_FILES = {"xnat": SCHEMA_DIR / "xnat.xsd", "roi": SCHEMA_DIR / "roi.xsd"}
PREFIXES = {"http://nrg.wustl.edu/xnat": "xnat", "http://icr.ac.uk/icr": "icr"}
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_lock = threading.Lock()


class InvalidXml(ValueError):
    """The document is not well-formed or does not follow the schema; the message says why."""


@lru_cache(maxsize=1)
def sandbox_schema() -> xmlschema.XMLSchema:
    """xnat.xsd and roi.xsd as one schema (roi.xsd imports xnat.xsd)."""
    return xmlschema.XMLSchema(str(SCHEMA_FILES["roi"]))


def prefixed(qname: str) -> str:
    """`{http://nrg.wustl.edu/xnat}qcAssessmentData` → `xnat:qcAssessmentData`."""
    if qname.startswith("{"):
        namespace, _, local = qname[1:].partition("}")
        if namespace in PREFIXES:
            return f"{PREFIXES[namespace]}:{local}"
    return qname


def parse_xml(data: bytes) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise InvalidXml(f"malformed XML: {exc}") from exc


def document_namespaces(data: bytes) -> dict[str, str]:
    """The prefixes a document declares (xsi:type values are resolved with them)."""
    found = {prefix: uri for uri, prefix in PREFIXES.items()}
    try:
        for _, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):  # type: ignore[misc]
            found[prefix] = uri
    except ET.ParseError as exc:
        raise InvalidXml(f"malformed XML: {exc}") from exc
    return found


def xsi_type_of(root: ET.Element) -> str:
    """The XNAT data type of a document: its xsi:type, else the type of its root element."""
    schema = sandbox_schema()
    explicit = root.get(f"{{{XSI}}}type")
    if explicit:
        return explicit
    element = schema.maps.elements.get(root.tag)
    if element is None:
        raise InvalidXml(f"root element {prefixed(root.tag)} is not an XNAT data type here")
    return prefixed(str(element.type.name))


def is_assessor_type(xsi_type: str) -> bool:
    schema = sandbox_schema()
    prefix, _, local = xsi_type.partition(":")
    namespace = {v: k for k, v in PREFIXES.items()}.get(prefix)
    xsd_type = schema.maps.types.get(f"{{{namespace}}}{local}") if namespace else None
    base = schema.maps.types["{http://nrg.wustl.edu/xnat}imageAssessorData"]
    return xsd_type is not None and xsd_type.is_derived(base)


def validate(root: ET.Element, namespaces: dict[str, str] | None = None) -> None:
    """Raise InvalidXml with the validator's reason when `root` breaks the schema."""
    schema = sandbox_schema()
    known = {prefix: uri for uri, prefix in PREFIXES.items()}
    try:
        with _lock:  # xmlschema's validators are not documented as thread-safe
            error = next(schema.iter_errors(root, namespaces={**known, **(namespaces or {})}), None)
    except (xmlschema.XMLSchemaException, KeyError, ValueError) as exc:
        raise InvalidXml(f"invalid {prefixed(root.tag)}: {exc}") from exc
    if error is not None:
        reason = error.reason or str(error.message)
        where = error.path or ""
        raise InvalidXml(f"invalid {prefixed(root.tag)}: {reason} (at {where})")
