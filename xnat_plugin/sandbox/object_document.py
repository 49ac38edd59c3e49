"""An object's stored values written out the way XNAT writes its items: an XML document in the
schema's order (`SAXWriter`), or the JSON of `?format=json`, where `data_fields` holds the
values an item keeps itself (`scanner/manufacturer` included) and `children` the items nested in
it: repeated elements (`fields/field`, `parameters/addParam`) and elements of a named type
(`investigator`, `demographics`).

Values are `field_paths`' `{path: text}`, paths relative to the object's type; repeated elements
are told apart by a predicate (`fields/field[name=site]/field`), a subtype by an xsi:type one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from xnat_plugin.sandbox import field_paths, xsi_types
from xnat_plugin.sandbox.xml_validation import XSI

XNAT_NS = "http://nrg.wustl.edu/xnat"
_PREDICATE = re.compile(r"\[(?P<key>@?[^=\]]+)=(?P<value>[^\]]*)\]")
_XSI_PREDICATE = re.compile(r"\[@xsi:type=[^\]]*\]")


def without_types(path: str) -> str:
    """`demographics[@xsi:type=xnat:demographicData]/gender` → `demographics/gender`."""
    return _XSI_PREDICATE.sub("", path)


def _namespace(name: Any) -> str:
    text = str(name)
    return text[1:].split("}", 1)[0] if text.startswith("{") else ""


def _below(values: Mapping[str, str], prefix: str, name: str) -> dict[str, dict[str, str]]:
    """Values under child `name` of the element at `prefix`, by the segment that names it."""
    groups: dict[str, dict[str, str]] = {}
    for path, value in values.items():
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :]
        if not (rest == name or rest.startswith((name + "/", name + "["))):
            continue
        segment, _, inner = _first_segment(rest)
        groups.setdefault(segment, {})[inner] = value
    return groups


def _first_segment(path: str) -> tuple[str, str, str]:
    depth = 0
    for index, char in enumerate(path):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "/" and depth == 0:
            return path[:index], "/", path[index + 1 :]
    return path, "", ""


def write_document(
    xsi_type: str,
    values: Mapping[str, str],
    extra: Mapping[str, list[ET.Element]] | None = None,
) -> ET.Element:
    """The root element of an object of `xsi_type`; `extra` adds ready-made items inside the
    child element it names (a session's `scan`s inside its `scans`), where the schema puts it."""
    root = ET.Element(xsi_types.root_tag(xsi_type))
    _fill(root, field_paths.schema_type(xsi_type), {"": values}, dict(extra or {}))
    return root


def _fill(
    element: ET.Element,
    xsd_type: Any,
    scoped: Mapping[str, Mapping[str, str]],
    extra: Mapping[str, list[ET.Element]],
) -> None:
    values = scoped[""]
    for name in field_paths.element_attributes(xsd_type):
        if values.get(name) not in (None, ""):
            element.set(name, values[name])
    if xsd_type.has_simple_content():
        own = field_paths.local(element.tag)
        for key in ("", own, field_paths.local(xsd_type.name or "")):
            if values.get(key) not in (None, ""):
                element.text = values[key]
                break
    for declaration in field_paths.element_children(xsd_type):
        name = field_paths.local(declaration.name)
        namespace = _namespace(declaration.name)
        tag = f"{{{namespace}}}{name}" if namespace else name
        if extra.get(name):  # the ready-made items inside their element: `<scans><scan>…`
            ET.SubElement(element, tag).extend(extra[name])
        for segment, inner in _below(values, "", name).items():
            child = ET.SubElement(element, tag)
            child_type = declaration.type
            for match in _PREDICATE.finditer(segment):
                if match["key"] == "@xsi:type":
                    child.set(f"{{{XSI}}}type", match["value"])
                    child_type = field_paths.schema_type(match["value"]) or child_type
                else:
                    child.set(match["key"], match["value"])
            if child_type.is_simple():
                child.text = inner.get("", "")
            else:
                _fill(child, child_type, {"": inner}, {})


def item_json(
    xsi_type: str, values: Mapping[str, str]
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(`data_fields`, `children`) of XNAT's JSON for an object of `xsi_type`."""
    data: dict[str, str] = {}
    children: dict[str, dict[str, dict[str, Any]]] = {}
    for path, value in values.items():
        steps = field_paths.steps(xsi_type, path)
        boundary = next((i for i, step in enumerate(steps) if step.own_item), None)
        if boundary is None:
            data[without_types(path)] = value
            continue
        segments = []
        rest = path
        for _ in range(boundary + 1):
            segment, _, rest = _first_segment(rest)
            segments.append(segment)
        field = "/".join(step.name for step in steps[: boundary + 1])
        step = steps[boundary]
        item = children.setdefault(field, {}).setdefault(
            "/".join(segments),
            {
                "children": [],
                "meta": {
                    "isHistory": False,
                    "xsi:type": step.xsi_type or f"{xsi_type}_{step.name}",
                },
                "data_fields": {},
            },
        )
        for match in _PREDICATE.finditer(segments[-1]):
            if not match["key"].startswith("@"):
                item["data_fields"][match["key"]] = match["value"]
        item["data_fields"][without_types(rest) or step.name] = value
    return data, [
        {"field": field, "items": list(items.values())} for field, items in children.items()
    ]


def document_values(xsi_type: str, root: ET.Element) -> dict[str, str]:
    """The values of a document as `field_paths` stores them (the inverse of
    `write_document`): repeated elements and elements with a `name` or `id` attribute carry it
    as a predicate, subtypes an xsi:type predicate, simple content the name XNAT gives it."""
    values: dict[str, str] = {}
    _collect(xsi_type, root, "", values)
    return values


def _collect(xsi_type: str, element: ET.Element, prefix: str, values: dict[str, str]) -> None:
    for name, value in element.attrib.items():
        if not name.startswith("{"):
            values[prefix + name] = value
    text = (element.text or "").strip()
    if text and len(element) == 0 and prefix:
        own = prefix.rstrip("/")
        content = own.rsplit("/", 1)[-1].split("[", 1)[0]
        field = field_paths.resolve(xsi_type, f"{own}/{content}") or field_paths.resolve(
            xsi_type, own
        )
        values[field.path if field is not None else own] = text
    counts: dict[str, int] = {}
    for child in element:
        counts[child.tag] = counts.get(child.tag, 0) + 1
    seen: dict[str, int] = {}
    for child in element:
        name = field_paths.local(child.tag)
        seen[child.tag] = seen.get(child.tag, 0) + 1
        predicates = ""
        key = next((k for k in ("name", "id", "ID") if child.get(k) is not None), None)
        if key is not None:
            predicates += f"[{key}={child.get(key)}]"
        elif counts[child.tag] > 1:
            predicates += f"[{seen[child.tag]}]"
        explicit = child.get(f"{{{XSI}}}type")
        if explicit:
            predicates = f"[@xsi:type={explicit}]{predicates}"
        _collect(xsi_type, child, f"{prefix}{name}{predicates}/", values)
