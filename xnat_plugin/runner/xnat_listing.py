"""Reading XNAT's REST answers: listing rows, object fields, and URI paths.

XNAT lists children as `{"ResultSet": {"Result": [rows]}}` and reads one object as
`{"items": [{"meta": {"xsi:type"}, "data_fields": {...}}]}`; row keys vary in case between
versions (`ID`/`id`, `xsiType`/`xsi_type`), so lookups accept several spellings.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote


def listing_rows(document: Any) -> list[dict[str, Any]]:
    """The rows of an XNAT listing (`{"ResultSet": {"Result": [...]}}`)."""
    if isinstance(document, dict):
        result = document.get("ResultSet", {}).get("Result", [])
        return [row for row in result if isinstance(row, dict)]
    return []


def item_fields(document: Any) -> tuple[str, dict[str, Any]]:
    """(xsi type, data_fields) of an object read (`{"items": [{"meta", "data_fields"}]}`)."""
    items = document.get("items", []) if isinstance(document, dict) else []
    if not items:
        return "", {}
    item = items[0]
    meta = item.get("meta", {})
    return str(meta.get("xsi:type", "")), dict(item.get("data_fields", {}))


def row_value(row: dict[str, Any], *names: str) -> Any:
    """A row value by any of its spellings (XNAT listings mix `ID`, `id`, `xsiType`, …)."""
    lowered = {key.lower(): value for key, value in row.items()}
    for name in names:
        if name in row and row[name] not in (None, ""):
            return row[name]
        value = lowered.get(name.lower())
        if value not in (None, ""):
            return value
    return None


def without_none(values: dict[str, Any]) -> dict[str, Any]:
    # Container Service serialises with NON_NULL: an absent field is left out, not null.
    return {key: value for key, value in values.items() if value is not None}


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def uri_parts(uri: str) -> list[str]:
    path = uri.strip().split("?", 1)[0].rstrip("/")
    for prefix in ("/data/archive", "/REST/archive", "/data", "/REST", "/archive"):
        if path.startswith(prefix + "/"):
            path = path[len(prefix) :]
            break
    return [unquote(part) for part in path.strip("/").split("/") if part]


def project_in(parts: list[str]) -> str | None:
    if len(parts) >= 2 and parts[0] == "projects" and len(parts) > 2:
        return parts[1]
    return None


def data_uri(archive_uri: str) -> str:
    return "/data/" + "/".join(quote(part) for part in uri_parts(archive_uri))
