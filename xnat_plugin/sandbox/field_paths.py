"""An object's values as XNAT addresses them: XML paths relative to its data type.

XNAT's REST handlers take values as query parameters: a shortcut (`gender`, `date`, `label`,
`XMLPathShortcuts`) or an XML path (`xnat:mrSessionData/age`,
`xnat:subjectData/investigator/lastname`, `…/fields/field[name=site]/field`,
`…/parameters/addParam[name=te]/addField`). Each value is typed by the schema: a float is stored
as a float (`42` reads back `42.0`), an integer as an integer, a date as a date; a value of the
wrong kind is refused. The sandbox stores an object's values as `{path: text}`, the path in the
schema's spelling relative to the object's type, and reads them back by the same paths.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from xnat_plugin.sandbox import xsi_types
from xnat_plugin.sandbox.xml_validation import sandbox_schema

# XMLPathShortcuts: the shortcut names each kind of object takes, and the path each stands for
# (relative to the object's type). Read-only ones (insert_date, …) are columns, not values.
PROJECT_SHORTCUTS = {
    "ID": "ID",
    "secondary_ID": "secondary_ID",
    "name": "name",
    "description": "description",
    "keywords": "keywords",
    "alias": "aliases/alias/alias",
    "pi_firstname": "PI/firstname",
    "pi_lastname": "PI/lastname",
    "note": "fields/field[name=note]/field",
}
SUBJECT_SHORTCUTS = {
    "project": "project",
    "label": "label",
    "ID": "ID",
    "group": "group",
    "src": "src",
    "pi_firstname": "investigator/firstname",
    "pi_lastname": "investigator/lastname",
    **{
        key: f"demographics/{key}"
        for key in (
            "dob",
            "yob",
            "age",
            "gender",
            "handedness",
            "ses",
            "education",
            "educationDesc",
            "race",
            "ethnicity",
            "weight",
            "height",
            "gestational_age",
            "post_menstrual_age",
            "birth_weight",
        )
    },
}
EXPERIMENT_SHORTCUTS = {
    "ID": "ID",
    "visit_id": "visit_id",
    "visit": "visit",
    "protocol": "protocol",
    "date": "date",
    "time": "time",
    "note": "note",
    "pi_firstname": "investigator/firstname",
    "pi_lastname": "investigator/lastname",
    "validation_method": "validation/method",
    "validation_status": "validation/status",
    "validation_date": "validation/date",
    "validation_notes": "validation/notes",
    "project": "project",
    "label": "label",
    "scanner": "scanner",
    "operator": "operator",
    "dcmAccessionNumber": "dcmAccessionNumber",
    "dcmPatientId": "dcmPatientId",
    "dcmPatientName": "dcmPatientName",
    "session_type": "session_type",
    "modality": "modality",
    "UID": "UID",
    "studyInstanceUID": "UID",
    "coil": "coil",
    "fieldStrength": "fieldStrength",
    "marker": "marker",
    "stabilization": "stabilization",
    "studyType": "studyType",
    "patientID": "patientID",
    "patientName": "patientName",
    "scan_start_time": "start_time_scan",
    "injection_start_time": "start_time_injection",
    "tracer_name": "tracer/name",
    "tracer_startTime": "tracer/startTime",
    "tracer_dose": "tracer/dose",
    "tracer_sa": "tracer/specificActivity",
    "tracer_totalmass": "tracer/totalMass",
    "tracer_intermediate": "tracer/intermediate",
    "tracer_isotope": "tracer/isotope",
    "tracer_transmissions": "tracer/transmissions",
    "tracer_transmissions_start": "tracer/transmissions_starttime",
    "subject_ID": "subject_ID",
}
SCAN_SHORTCUTS = {
    "ID": "ID",
    "type": "type",
    "UID": "UID",
    "note": "note",
    "quality": "quality",
    "condition": "condition",
    "series_description": "series_description",
    "documentation": "documentation",
    "scanner": "scanner",
    "modality": "modality",
    "frames": "frames",
    "validation_method": "validation/method",
    "validation_status": "validation/status",
    "validation_date": "validation/date",
    "validation_notes": "validation/notes",
    "scanTime": "startTime",
    "coil": "coil",
    "fieldStrength": "fieldStrength",
    "marker": "marker",
    "stabilization": "stabilization",
}
RECON_SHORTCUTS = {"ID": "ID", "type": "type", "baseScanType": "baseScanType"}
ASSESSOR_SHORTCUTS = {
    key: value
    for key, value in EXPERIMENT_SHORTCUTS.items()
    if key
    in (
        "ID",
        "visit_id",
        "date",
        "time",
        "note",
        "pi_firstname",
        "pi_lastname",
        "validation_method",
        "validation_status",
        "validation_date",
        "validation_notes",
        "project",
        "label",
    )
}
SHORTCUTS = {
    "project": PROJECT_SHORTCUTS,
    "subject": SUBJECT_SHORTCUTS,
    "experiment": EXPERIMENT_SHORTCUTS,
    "scan": SCAN_SHORTCUTS,
    "reconstruction": RECON_SHORTCUTS,
    "assessor": ASSESSOR_SHORTCUTS,
}
_SEGMENT = re.compile(r"^(?P<name>[^\[]+)(?P<predicates>(\[[^\]]*\])*)$")
_XSI_PREDICATE = re.compile(r"\[@xsi:type=(?P<type>[^\]]+)\]")
# XSD simple types as XNAT stores them.
_FLOATS = {"float", "double", "decimal"}
_INTEGERS = {"integer", "int", "long", "short", "nonNegativeInteger", "positiveInteger"}


class BadValue(ValueError):
    """A value that does not fit its field's type (XNAT: InvalidValueException → 400)."""


@dataclass(frozen=True)
class Field:
    """One addressable value: its path in the schema's spelling and its XSD base type."""

    path: str
    kind: str  # string, float, integer, boolean, date, time, dateTime
    multiple: bool  # inside a repeated element (`fields/field[name=x]/field`)


def _local(name: Any) -> str:
    return str(name).rsplit("}", 1)[-1]


def _kind_of(xsd_type: Any) -> str:
    """The XSD base type of a simple value, nearest named type first (an xs:integer is an
    integer though its primitive type is xs:decimal)."""
    simple = xsd_type
    if not simple.is_simple():
        simple = getattr(xsd_type, "content", None)
        if simple is None or not simple.is_simple():
            return "string"
    while simple is not None:
        name = _local(getattr(simple, "name", None) or "")
        if name in _INTEGERS:
            return "integer"
        if name in _FLOATS:
            return "float"
        if name in ("boolean", "date", "time", "dateTime", "string"):
            return name
        simple = getattr(simple, "base_type", None)
    return "string"


@lru_cache(maxsize=256)
def _global_type(xsi_type: str) -> Any:
    """The schema type named `xsi_type`, any letter case (`xnat:experimentdata`)."""
    found = xsi_types.global_type(xsi_type)
    if found is not None:
        return found
    wanted = (xsi_types.qualified(xsi_type) or "").lower()
    return next(
        (t for n, t in sandbox_schema().maps.types.items() if str(n).lower() == wanted),
        None,
    )


def _subtype_declaring(xsd_type: Any, name: str) -> tuple[str, Any] | None:
    """A type extending `xsd_type` that has element or attribute `name` (`demographics` is an
    abstract demographic; `gender` lives on xnat:demographicData)."""
    for xsi_type, candidate in xsi_types.types_extending(xsd_type):
        if any(_local(e.name).lower() == name.lower() for e in _children(candidate)):
            return xsi_type, candidate
    return None


def _children(xsd_type: Any) -> list[Any]:
    content: Any = getattr(xsd_type, "content", None)
    return list(content.iter_elements()) if hasattr(content, "iter_elements") else []


def _attributes(xsd_type: Any) -> dict[str, Any]:
    return {_local(k): v for k, v in getattr(xsd_type, "attributes", {}).items() if k}


@lru_cache(maxsize=4096)
def resolve(xsi_type: str, raw_path: str) -> Field | None:
    """The field `raw_path` (relative to `xsi_type`, any letter case) names, or None."""
    current = _global_type(xsi_type)
    if current is None:
        return None
    segments = [s for s in raw_path.strip("/").split("/") if s]
    out: list[str] = []
    multiple = False
    for index, segment in enumerate(segments):
        match = _SEGMENT.match(segment)
        if match is None:
            return None
        name, predicates = match["name"], match["predicates"]
        retype = _XSI_PREDICATE.search(predicates)
        predicates = _XSI_PREDICATE.sub("", predicates)
        last = index == len(segments) - 1
        attribute = next(
            (a for n, a in _attributes(current).items() if n.lower() == name.lower()),
            None,
        )
        if attribute is not None and last and not predicates:
            out.append(_local(attribute.name))
            return Field("/".join(out), _kind_of(attribute.type), multiple)
        element = next(
            (e for e in _children(current) if _local(e.name).lower() == name.lower()),
            None,
        )
        if element is None:
            # the text of a simple-content element, named after it or after its type
            own = {
                out[-1].split("[")[0].lower() if out else "",
                _local(getattr(current, "name", "")).lower(),
            }
            simple_content = not current.is_simple() and current.has_simple_content()
            if last and not predicates and name.lower() in own and simple_content:
                # XFT names it after a named type (`addParam` of xnat:addField → addField),
                # else after the element (`fields/field[name=x]/field`)
                type_name = getattr(current, "name", None)
                out.append(_local(type_name) if type_name else out[-1].split("[")[0])
                return Field("/".join(out), _kind_of(current), multiple)
            return None
        next_type = element.type
        if retype is not None:
            next_type = _global_type(retype["type"]) or next_type
            predicates = f"[@xsi:type={retype['type']}]{predicates}"
        elif not last and not next_type.is_simple():
            inner = _SEGMENT.match(segments[index + 1])
            wanted = inner["name"].lower() if inner else ""
            declared = {_local(e.name).lower() for e in _children(next_type)}
            declared |= {n.lower() for n in _attributes(next_type)}
            if wanted not in declared:
                found = _subtype_declaring(next_type, wanted)
                if found is not None:
                    next_type = found[1]
                    predicates = f"[@xsi:type={found[0]}]{predicates}"
        out.append(_local(element.name) + predicates)
        repeated = element.max_occurs is None or element.max_occurs > 1
        multiple = multiple or repeated or "[name=" in predicates
        if last:
            if next_type.is_simple() or next_type.has_simple_content():
                return Field("/".join(out), _kind_of(next_type), multiple)
            return None
        current = next_type
    return None


def typed(field: Field, value: str) -> str:
    """`value` as XNAT stores and reads back a value of this field's type."""
    text = value.strip()
    if text == "" or field.kind == "string":
        return value
    try:
        if field.kind == "float":
            return repr(float(text))
        if field.kind == "integer":
            return str(int(float(text))) if float(text).is_integer() else str(int(text))
        if field.kind == "boolean":
            if text.lower() in ("true", "1"):
                return "1"
            if text.lower() in ("false", "0"):
                return "0"
            raise ValueError(text)
        if field.kind == "date":
            return dt.date.fromisoformat(text[:10]).isoformat()
        if field.kind == "time":
            return dt.time.fromisoformat(text).isoformat()
        if field.kind == "dateTime":
            return dt.datetime.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise BadValue(f"{field.path}: {value!r} is not a valid {field.kind}") from exc
    return value


def accept(family: str, xsi_type: str, query: dict[str, str]) -> dict[str, str]:
    """The values a PUT's query sets on an object of `xsi_type`, by path, typed.

    As `SecureResource.loadItem`: a key is a shortcut of this kind of object or an XML path
    (`<type>/<path>`, the type this object's or one it extends); anything else is not a value.
    """
    shortcuts = SHORTCUTS[family]
    values: dict[str, str] = {}
    for key, value in query.items():
        if key in shortcuts:
            path = shortcuts[key]
        elif "/" in key:
            head, _, path = key.partition("/")
            if ":" in head and not xsi_types.derives_from(xsi_type, head) and head != xsi_type:
                continue
            if ":" not in head:
                path = key
        else:
            continue
        field = resolve(xsi_type, path)
        if field is None:
            continue
        values[field.path] = typed(field, value)
    return values


@dataclass(frozen=True)
class Step:
    """One element on a value's path: name, predicates as written, and whether XNAT keeps it as
    an item of its own (a repeated element, or one of a named type such as investigatorData)."""

    name: str
    predicates: str
    own_item: bool
    xsi_type: str  # the element's type (its xsi:type predicate when it has one)


@lru_cache(maxsize=4096)
def steps(xsi_type: str, path: str) -> tuple[Step, ...]:
    """The elements a stored value's path passes through (attributes and content excluded)."""
    current = _global_type(xsi_type)
    out: list[Step] = []
    for segment in path.split("/"):
        match = _SEGMENT.match(segment)
        if match is None or current is None:
            break
        name, predicates = match["name"], match["predicates"]
        element = next((e for e in _children(current) if _local(e.name) == name), None)
        if element is None:
            break
        retype = _XSI_PREDICATE.search(predicates)
        element_type = _global_type(retype["type"]) if retype else element.type
        repeated = element.max_occurs is None or element.max_occurs > 1
        named = (
            element.type.name is not None
            and not element_type.is_simple()
            and not element_type.has_simple_content()
        )
        type_name = (
            retype["type"]
            if retype
            else (xsi_types.prefixed_name(element.type.name) if named else "")
        )
        out.append(Step(name, predicates, repeated or named, type_name))
        current = element_type
    return tuple(out)


def element_children(xsd_type: Any) -> list[Any]:
    return _children(xsd_type)


def element_attributes(xsd_type: Any) -> list[str]:
    return list(_attributes(xsd_type))


def local(name: Any) -> str:
    return _local(name)


def schema_type(xsi_type: str) -> Any:
    return _global_type(xsi_type)
