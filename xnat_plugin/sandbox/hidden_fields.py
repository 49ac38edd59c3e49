"""The row keys XNAT writes into an item's XML, as `<!--hidden_fields[...]-->` comments.

XNAT answers a read of an object (`?format=xml`) through `SecureResource.representItem`: an
`ItemXMLRepresentation` whose `SAXWriter` has `writeHiddenFields` on unless the query says
`concealHiddenFields=true`. `SAXWriter.writeChildField` then opens every nested item (an element
XFT keeps in a table of its own: one of a named complex type, such as a scan, a resource, an
`addParam`, the demographics; or a repeated element, such as `fields/field`) and writes, before
its text or children, a comment naming that row's keys (`writeHiddenFields`, from the item's
generic schema element's add-ins): its generated primary key and the key of the item it hangs
from. The serializer indents (`OutputKeys.INDENT` = yes; the `indent-amount` property is set
under a misspelt name, so Xalan's amount of 0 applies: a new line, no spaces), so an item of
simple content reads ``<xnat:addParam name="te">`` new line ``<!--hidden_fields[…]-->20</…>``:
two text nodes, the value the second. Clients rely on that: pyxnat's `get_params()` takes every
second text node under `addParam`.

The sandbox keeps no database rows for nested items, so the keys it writes number the items in
document order; the parent of a top-level item is the document's own `ID`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from xnat_plugin.sandbox import field_paths
from xnat_plugin.sandbox.xml_validation import PREFIXES, XSI


def conceal_requested(query: dict[str, str]) -> bool:
    """`SecureResource.representItem`: `isQueryVariableTrue("concealHiddenFields")`."""
    return query.get("concealHiddenFields", "").lower() == "true"


def with_hidden_fields(xsi_type: str, root: ET.Element) -> ET.Element:
    """`root` (a document of `xsi_type`) with each nested item's keys in a leading comment."""
    xsd_type = field_paths.schema_type(xsi_type)
    if xsd_type is not None:
        counter = [0]
        _mark(root, xsd_type, _table(xsi_type), root.get("ID", ""), "", counter)
    return root


def indented(root: ET.Element) -> ET.Element:
    """Xalan's indentation with an amount of 0: each element on a line of its own."""
    ET.indent(root, space="")
    return root


def _table(xsi_type: str) -> str:
    return xsi_type.replace(":", "_")


def _mark(
    element: ET.Element, xsd_type: Any, table: str, key: str, path: str, counter: list[int]
) -> None:
    declarations = {field_paths.local(d.name): d for d in field_paths.element_children(xsd_type)}
    for child in list(element):
        if not isinstance(child.tag, str):
            continue
        name = field_paths.local(child.tag)
        declaration = declarations.get(name)
        if declaration is None:
            continue
        child_type = declaration.type
        explicit = child.get(f"{{{XSI}}}type")
        if explicit:
            child_type = field_paths.schema_type(explicit) or child_type
        if child_type.is_simple():
            continue
        child_path = f"{path}{name}"
        named = child_type.name is not None
        repeated = declaration.max_occurs != 1
        if not (named or repeated):  # an inline element: its values sit in its parent's row
            _mark(child, child_type, table, key, f"{child_path}_", counter)
            continue
        counter[0] += 1
        # the key lives in the table of the declared type (a scan's in xnat_imageScanData,
        # whatever its xsi:type extends it to)
        child_table = _item_table(declaration.type, table, name)
        own_key = str(counter[0])
        _lead_with(
            child,
            f'hidden_fields[{child_table}_id="{own_key}",{child_path}_{table}_id="{key}"]',
        )
        _mark(child, child_type, child_table, own_key, "", counter)


def _item_table(xsd_type: Any, parent_table: str, name: str) -> str:
    """XFT's table of an item: its named type's (`xnat_addField`), else its parent's plus the
    element's name (`xnat_experimentData_field`)."""
    if xsd_type.name is None:
        return f"{parent_table}_{name}"
    qualified = str(xsd_type.name)
    namespace, _, local = qualified[1:].partition("}")
    return f"{PREFIXES.get(namespace, 'xnat')}_{local}"


def _lead_with(element: ET.Element, text: str) -> None:
    """The comment first; simple content moves after it (the comment's tail)."""
    comment = ET.Comment(text)
    if len(element) == 0 and (element.text or "").strip():
        comment.tail = element.text
        element.text = None
    element.insert(0, comment)
