"""Validate uploaded XNAT documents against the sandbox's own XSDs (`schemas/`).

`validate_as_sent` is what XNAT's `XMLValidator` does in `DefaultCatalogService.insertXmlObject`
(the Container Service's assessor upload, `PUT /xapi/archive/upload/xml`): the document exactly
as it arrived, with Xerces' message for the first error (`cvc-complex-type.4: Attribute 'ID' must
appear on element 'icr:RoiCollection'.`). `validate` checks a document after XNAT filled in what
its REST handlers fill in (ID, project, label, session).
"""

from __future__ import annotations

import io
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class XnatDocument:
    """A well-formed upload: its root element, the prefixes it declares, its data type."""

    root: ET.Element
    namespaces: dict[str, str]
    xsi_type: str


def parse_document(data: bytes) -> XnatDocument:
    """Parse an upload (InvalidXml when it is not well-formed); `xsi_type` is empty when the
    root element is no data type here (validation then says so in XNAT's words)."""
    root = parse_xml(data)
    namespaces = document_namespaces(data)
    try:
        xsi_type = xsi_type_of(root)
    except InvalidXml:
        xsi_type = ""
    return XnatDocument(root, namespaces, xsi_type)


def _as_written(qname: str | None, namespaces: dict[str, str]) -> str:
    """`{http://icr.ac.uk/icr}RoiCollection` → `icr:RoiCollection`, with the document's prefix."""
    if not qname or not qname.startswith("{"):
        return qname or ""
    uri, _, local = qname[1:].partition("}")
    prefix = next((p for p, u in namespaces.items() if u == uri and p), None)
    return f"{prefix}:{local}" if prefix else local


def _expected_list(error: Any) -> str:
    names = []
    for item in getattr(error, "expected", None) or []:
        name = str(getattr(item, "name", item))
        if name.startswith("{"):
            uri, _, local = name[1:].partition("}")
            names.append(f'"{uri}":{local}')
        else:
            names.append(name)
    return ", ".join(names)


def xerces_message(error: Any, namespaces: dict[str, str]) -> str:
    """The first validation error as Xerces (XNAT's parser) words it."""
    elem = getattr(error, "elem", None)
    element = _as_written(elem.tag if elem is not None else None, namespaces)
    reason = str(error.reason or error.message)
    if reason.startswith("missing required attribute"):
        attribute = reason.split("'")[1] if "'" in reason else reason.rsplit(" ", 1)[-1]
        return f"cvc-complex-type.4: Attribute '{attribute}' must appear on element '{element}'."
    if reason.endswith("is not an element of the schema"):
        return f"cvc-elt.1.a: Cannot find the declaration of element '{element}'."
    if isinstance(error, xmlschema.XMLSchemaChildrenValidationError):
        expected = _expected_list(error)
        if reason.startswith("The content of element"):
            return (
                f"cvc-complex-type.2.4.b: The content of element '{element}' is not complete. "
                f"One of '{{{expected}}}' is expected."
            )
        child = getattr(error, "invalid_child", None)
        found = _as_written(child.tag if child is not None else None, namespaces)
        tail = f" One of '{{{expected}}}' is expected." if expected else ""
        return f"cvc-complex-type.2.4.a: Invalid content was found starting with element '{found}'.{tail}"
    return f"cvc-datatype-valid: {reason} (on element '{element}')"


def validate_as_sent(document: XnatDocument) -> None:
    """Raise InvalidXml with Xerces' message when the document, exactly as sent, breaks the
    installed schemas (`XMLValidator.validateInputStream`)."""
    schema = sandbox_schema()
    known = {prefix: uri for uri, prefix in PREFIXES.items()}
    try:
        with _lock:
            error = next(
                schema.iter_errors(document.root, namespaces={**known, **document.namespaces}),
                None,
            )
    except (xmlschema.XMLSchemaException, KeyError, ValueError) as exc:
        raise InvalidXml(str(exc)) from exc
    if error is not None:
        raise InvalidXml(xerces_message(error, document.namespaces))


def _is_container_only(error: Any) -> bool:
    """A missing element that only holds child items (`xnat:scans`): XNAT's item validator
    (`XFTValidator`) checks required values, not how many child items an object has."""
    if not isinstance(error, xmlschema.XMLSchemaChildrenValidationError):
        return False
    if not str(error.reason or "").startswith(("The content of element", "Unexpected child")):
        return False
    expected = getattr(error, "expected", None) or []
    if not expected or str(error.reason).startswith("Unexpected child"):
        return False
    return all(
        hasattr(item, "type") and not item.type.is_simple() and not item.type.has_simple_content()
        for item in expected
    )


def validate(root: ET.Element, namespaces: dict[str, str] | None = None) -> None:
    """Raise InvalidXml with the validator's reason when `root` (as XNAT's REST handlers
    complete it) lacks a required value or has an element its type does not have."""
    schema = sandbox_schema()
    known = {prefix: uri for uri, prefix in PREFIXES.items()}
    try:
        with _lock:  # xmlschema's validators are not documented as thread-safe
            errors = list(schema.iter_errors(root, namespaces={**known, **(namespaces or {})}))
    except (xmlschema.XMLSchemaException, KeyError, ValueError) as exc:
        raise InvalidXml(f"invalid {prefixed(root.tag)}: {exc}") from exc
    error = next((e for e in errors if not _is_container_only(e)), None)
    if error is not None:
        reason = error.reason or str(error.message)
        where = error.path or ""
        message = f"invalid {prefixed(root.tag)}: {reason} (at {where})"
        if _is_unknown_element(error):
            raise UnknownElement(message)
        raise InvalidXml(message)


class UnknownElement(InvalidXml):
    """An element its parent's type does not have (XNAT's SAXReader: "Invalid Element")."""


def _is_unknown_element(error: Any) -> bool:
    reason = str(error.reason or "")
    if reason.endswith("is not an element of the schema"):
        return True
    if not reason.startswith("Unexpected child"):
        return False
    child = getattr(error, "invalid_child", None)
    group: Any = getattr(error, "validator", None)
    if child is None or group is None or not hasattr(group, "iter_elements"):
        return True
    return child.tag not in {str(e.name) for e in group.iter_elements()}


def schema_order(root: ET.Element) -> None:
    """Put every element's children in the order its type declares them, in place. XNAT's
    REST handlers read a document with SAXReader, which takes an item's fields in any order
    (pyxnat's provenance writer puts `xnat:provenance` first); the schema check then sees what
    XNAT would store."""
    schema = sandbox_schema()
    declared = schema.maps.elements.get(root.tag)
    explicit = root.get(f"{{{XSI}}}type")
    xsd_type = _type_named(explicit, root) if explicit else getattr(declared, "type", None)
    if xsd_type is not None:
        _reorder(root, xsd_type)


def _type_named(xsi_type: str, element: ET.Element) -> Any:
    prefix, _, local = xsi_type.partition(":")
    namespace = {p: u for u, p in PREFIXES.items()}.get(prefix)
    return sandbox_schema().maps.types.get(f"{{{namespace}}}{local}") if namespace else None


def _reorder(element: ET.Element, xsd_type: Any) -> None:
    content: Any = getattr(xsd_type, "content", None)
    if not hasattr(content, "iter_elements"):
        return
    declarations = list(content.iter_elements())
    position = {str(d.name): i for i, d in reversed(list(enumerate(declarations)))}
    children = list(element)
    children.sort(key=lambda c: position.get(c.tag, len(declarations)))
    element[:] = children
    for child in children:
        declaration = next((d for d in declarations if str(d.name) == child.tag), None)
        if declaration is None:
            continue
        explicit = child.get(f"{{{XSI}}}type")
        child_type = (_type_named(explicit, child) if explicit else None) or declaration.type
        if not child_type.is_simple():
            _reorder(child, child_type)
