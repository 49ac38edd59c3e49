"""The `xnat:imageAssessorData` part every assessor shares, written in XNAT's schema order.

An assessor document is a chain of schema extensions: `xnat:experimentData` (attributes `ID`,
`project`, `label`, `version`; elements `date`, `time`, `note`, …, `fields`), then
`xnat:derivedData`, then `xnat:imageAssessorData` (`imageSession_ID`, required), then the
datatype's own elements. `write_image_assessor_elements` writes the shared part in that order;
each datatype appends its elements after it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xnat_plugin.assessors.assessor_id import assessor_id, check_xnat_id
from xnat_plugin.assessors.xsd import XNAT_NAMESPACE, XSI_NAMESPACE

XNAT = "xnat"
# XNAT accepts labels of letters, digits, '_', '-' (and '.') only; anything else breaks its URIs.
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")
# The schema caps `xnat:note` at 2500 characters.
NOTE_MAX_LENGTH = 2500


class ImageAssessor(BaseModel):
    """What every image assessor carries: identity, the session it describes, date, fields."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        default="",
        description="XNAT ID; when not given, derived from the session ID, project and label "
        "(`assessor_id.assessor_id`), so a document sent twice updates one assessor",
    )
    label: str
    project: str
    session_id: str = Field(description="the image session's XNAT ID (xnat:imageSession_ID)")
    date: dt.date | None = None
    time: dt.time | None = None
    note: str | None = Field(default=None, max_length=NOTE_MAX_LENGTH)
    fields: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _derive_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id"):
            session_id, project, label = (
                data.get("session_id"),
                data.get("project"),
                data.get("label"),
            )
            if (
                isinstance(session_id, str)
                and isinstance(project, str)
                and isinstance(label, str)
                and session_id.strip()
            ):
                return {**data, "id": assessor_id(session_id, project, label)}
        return data

    @field_validator("id")
    @classmethod
    def _xnat_id(cls, value: str) -> str:
        return check_xnat_id(value, "assessor ID")

    @field_validator("label", "project")
    @classmethod
    def _xnat_name(cls, value: str, info: object) -> str:
        if not LABEL_PATTERN.match(value):
            name = getattr(info, "field_name", "value")
            raise ValueError(
                f"assessor {name} {value!r} may contain only letters, digits, '_', '-' and '.'"
            )
        return value

    @field_validator("session_id")
    @classmethod
    def _session_id_present(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("session_id (the image session's XNAT ID) must not be empty")
        return check_xnat_id(value, "session_id (the image session's XNAT ID)")

    @field_validator("time")
    @classmethod
    def _whole_seconds(cls, value: dt.time | None) -> dt.time | None:
        # xs:time with microseconds is valid, but XNAT stores whole seconds: keep round trips exact.
        return value.replace(microsecond=0, tzinfo=None) if value is not None else None


def new_root(tag: str, assessor: ImageAssessor, extra_namespaces: dict[str, str]) -> ET.Element:
    """The root element with XNAT's namespaces declared and the experiment attributes set.

    Tags are written with literal prefixes (`xnat:date`) and the `xmlns:` declarations are set on
    the root, so the output does not depend on ElementTree's process-wide prefix registry.
    """
    root = ET.Element(tag)
    root.set(f"xmlns:{XNAT}", XNAT_NAMESPACE)
    root.set("xmlns:xsi", XSI_NAMESPACE)
    for prefix, uri in extra_namespaces.items():
        root.set(f"xmlns:{prefix}", uri)
    root.set("ID", assessor.id)
    root.set("project", assessor.project)
    root.set("label", assessor.label)
    return root


def write_image_assessor_elements(root: ET.Element, assessor: ImageAssessor) -> None:
    """Append the experimentData → imageAssessorData elements in schema order."""
    if assessor.date is not None:
        _text_child(root, f"{XNAT}:date", assessor.date.isoformat())
    if assessor.time is not None:
        _text_child(root, f"{XNAT}:time", assessor.time.isoformat(timespec="seconds"))
    if assessor.note is not None:
        _text_child(root, f"{XNAT}:note", assessor.note)
    if assessor.fields:
        fields = ET.SubElement(root, f"{XNAT}:fields")
        for name, value in assessor.fields.items():
            _text_child(fields, f"{XNAT}:field", value).set("name", name)
    _text_child(root, f"{XNAT}:imageSession_ID", assessor.session_id)


def read_image_assessor_values(root: ET.Element) -> dict[str, object]:
    """The shared values of a parsed assessor document (namespace-qualified tags)."""
    values: dict[str, object] = {
        "id": root.get("ID"),
        "label": root.get("label", ""),
        "project": root.get("project", ""),
        "session_id": child_text(root, XNAT_NAMESPACE, "imageSession_ID") or "",
    }
    date_text = child_text(root, XNAT_NAMESPACE, "date")
    if date_text:
        values["date"] = dt.date.fromisoformat(date_text)
    time_text = child_text(root, XNAT_NAMESPACE, "time")
    if time_text:
        values["time"] = dt.time.fromisoformat(time_text)
    note = child_text(root, XNAT_NAMESPACE, "note")
    if note is not None:
        values["note"] = note
    fields = root.find(f"{{{XNAT_NAMESPACE}}}fields")
    if fields is not None:
        values["fields"] = {
            field.get("name", ""): item_text(field)
            for field in fields.findall(f"{{{XNAT_NAMESPACE}}}field")
        }
    return values


def serialize(root: ET.Element) -> str:
    """The document as text with an XML declaration, indented for people who open it."""
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def format_double(value: float) -> str:
    """`value` as an xs:double lexical form (`NaN`, `INF`, `-INF` are spelled the XSD way)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return repr(float(value))


def parse_double(text: str) -> float:
    return float(text.strip())


def _text_child(parent: ET.Element, tag: str, text: str) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = text
    return child


def item_text(element: ET.Element) -> str:
    """An element's value as XNAT writes it back: XNAT's `SAXWriter` indents, and opens each
    nested item (a `field`, an `addField`) with a hidden-fields comment, so the value of such
    an item reads with the new line before that comment. Whitespace around a value is never
    part of it."""
    return (element.text or "").strip()


def child_text(parent: ET.Element, namespace: str, local: str) -> str | None:
    """Text of the first child `{namespace}local` ('' when empty, None when absent)."""
    child = parent.find(f"{{{namespace}}}{local}")
    if child is None:
        return None
    return item_text(child)
