"""Which columns a listing shows and which rows it keeps, as XNAT's listings decide
(`QueryOrganizerResource.populateQuery` and `formatHeaders`, the `getDefaultFields` of each list
resource).

- Without `columns=` a listing shows its default columns (plus `URI`).
- `columns=` names shortcuts of the kind of object (`label`, `subject_ID`, `insert_date`) or XML
  paths (`xnat:mrSessionData/age`, `xnat:subjectData/label` on experiments); a path that is a
  shortcut's path comes back under the shortcut's name, any other under the path as asked. A name
  that is neither is left out ("Unknown alias").
- Rows are filtered by query parameters that are shortcuts or XML paths (`label=S1*`,
  `xnat:subjectData/label=001`); `*` matches anything, case is ignored, commas separate
  alternatives, and a numeric field takes ranges (`age=20-40`). `xsiType=` keeps the type and
  every type that extends it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xnat_plugin.sandbox import field_paths, xsi_types
from xnat_plugin.sandbox.object_document import without_types

# Query parameters that shape an answer rather than filter it.
NOT_FILTERS = {
    "format",
    "columns",
    "sortBy",
    "sortOrder",
    "limit",
    "offset",
    "req_format",
    "xsiType",
    "xsitype",
    "file_format",
    "file_content",
    "accessible",
    "recursive",
    "locator",
    "all",
}


@dataclass
class Row:
    """One object of a listing: its own columns (ID, label, …), its stored values by path, and
    the values of objects it is joined with (an experiment's subject) by their type."""

    xsi_type: str
    columns: dict[str, str]
    values: Mapping[str, str] = field(default_factory=dict)
    joined: dict[str, tuple[str, Mapping[str, str], Mapping[str, str]]] = field(
        default_factory=dict
    )  # base type → (xsi type, columns, values)

    def by_path(self, type_name: str, path: str) -> str | None:
        """The value at `type_name/path`: this object's when it is of that type, else the
        joined object's of that type."""
        sources = [(self.xsi_type, self.columns, self.values), *self.joined.values()]
        for xsi_type, columns, values in sources:
            if not (xsi_types.derives_from(xsi_type, type_name) or _same(xsi_type, type_name)):
                continue
            resolved = field_paths.resolve(xsi_type, path)
            key = resolved.path if resolved else path
            for candidate in (key, without_types(key)):
                if candidate in values:
                    return values[candidate]
            for name, value in columns.items():
                if name.lower() == path.lower():
                    return value
            plain = without_types(key)
            for stored, value in values.items():
                if without_types(stored).lower() == plain.lower():
                    return value
            return ""
        return None


def root_type(query: Mapping[str, str], default: str) -> str:
    """The type a listing is about (`QueryOrganizerResource.getRootElementName`): a single
    `xsiType`, else the default narrowed to a type that extends it when a filter or column
    names one (`xnat:mrSessionData/age`)."""
    wanted = query.get("xsiType", "")
    if wanted and "," not in wanted and xsi_types.known(wanted):
        return wanted
    root = default
    keys = [k for k in query if "/" in k]
    keys += [c for c in query.get("columns", "").split(",") if "/" in c]
    for key in keys:
        head = xsi_types.canonical(key.split("/", 1)[0])
        if head is not None and head != root and xsi_types.derives_from(head, root):
            root = head
    return root


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _shortcut_for(family: str, type_name: str, path: str) -> str | None:
    """The shortcut whose XML path this is (`xnat:subjectAssessorData/subject_id` → subject_ID)."""
    for shortcut, shortcut_path in field_paths.SHORTCUTS[family].items():
        if shortcut_path.lower() == path.lower():
            return shortcut
    return None


def column_value(row: Row, family: str, key: str) -> tuple[str, str] | None:
    """(header, value) of column `key` for `row`, or None when the listing has no such column."""
    if key in row.columns:
        return key, row.columns[key]
    lowered = {name.lower(): name for name in row.columns}
    if key.lower() in lowered and "/" not in key:
        name = lowered[key.lower()]
        return name, row.columns[name]
    if "/" in key:
        head, _, path = key.partition("/")
        value = row.by_path(head, path)
        if value is None:
            return None
        shortcut = _shortcut_for(family, head, path)
        if shortcut is not None and shortcut in row.columns:
            return shortcut, row.columns[shortcut]
        # XNAT names such a column by its XML path in lower case (what pyxnat's provenance
        # reader and `attrs.get` look for).
        return key.lower(), value
    shortcut_path = field_paths.SHORTCUTS[family].get(key)
    if shortcut_path is not None:
        return key, row.by_path(row.xsi_type, shortcut_path) or ""
    return None


# Columns a listing of this kind always carries, asked for or not: the root's ID (the key of
# `formatHeaders`), and for experiments the type and project XNAT adds to check read access per
# data type (`ProjSubExptList.represent`, `extension_item/element_name` → xsiType).
ALWAYS = {
    "project": ("ID",),
    "subject": ("ID",),
    "experiment": ("ID", "xsiType", "project"),
    "assessor": ("ID", "xsiType", "project"),
    "scan": ("ID",),
    "reconstruction": ("ID",),
}


def table(
    rows: list[Row], family: str, defaults: list[str], query: Mapping[str, str]
) -> list[dict[str, str]]:
    """The listing's rows as XNAT shows them for `query` (filtered, with its columns)."""
    wanted = query.get("columns", "")
    keys = [c for c in wanted.split(",") if c] if wanted and wanted != "DEFAULT" else defaults
    keys += [key for key in ALWAYS.get(family, ()) if key not in keys]
    kept = [row for row in rows if keeps(row, family, query)]
    out = []
    for row in kept:
        shown: dict[str, str] = {}
        for key in keys:
            found = column_value(row, family, key)
            if found is not None:
                shown[found[0]] = found[1]
        if "URI" in row.columns:
            shown["URI"] = row.columns["URI"]
        out.append(shown)
    return out


def keeps(row: Row, family: str, query: Mapping[str, str]) -> bool:
    wanted_type = query.get("xsiType") or query.get("xsitype")
    if wanted_type and not xsi_types.matches_filter(row.xsi_type, wanted_type):
        return False
    shortcuts = field_paths.SHORTCUTS[family]
    for key, pattern in query.items():
        if key in NOT_FILTERS or not pattern:
            continue
        if key in row.columns:
            value: str | None = row.columns[key]
        elif key in shortcuts or "/" in key:
            found = column_value(row, family, key)
            value = found[1] if found is not None else None
            if value is None and "/" in key:
                return False  # a path of a type this row is not
        else:
            continue  # XNAT ignores a parameter that is neither
        if not _matches(value or "", pattern):
            return False
    return True


def _matches(value: str, pattern: str) -> bool:
    for alternative in pattern.split(","):
        alternative = alternative.strip()
        if fnmatch.fnmatchcase(value.lower(), alternative.lower()):
            return True
        low, dash, high = alternative.partition("-")
        if dash and _number(low) is not None and _number(high) is not None:
            number = _number(value)
            if number is not None and _number(low) <= number <= _number(high):  # type: ignore[operator]
                return True
    return False


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def keyed(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{k: "" if v is None else str(v) for k, v in r.items()} for r in rows]
