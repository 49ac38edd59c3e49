"""XNAT's response shapes: listings (`ResultSet` as JSON, CSV, XML or HTML) and single objects
(`{"items": [{"meta", "data_fields", "children"}]}`)."""

from __future__ import annotations

import csv
import fnmatch
import io
import json
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from fastapi import Response

RESULT_SET_NS = "http://www.nbirn.net/prov"


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    return columns


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# Query parameters that shape the answer rather than filter rows.
NOT_FILTERS = {"format", "columns", "sortBy", "sortOrder", "limit", "offset", "req_format"}


def matching_rows(rows: list[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
    """XNAT filters a listing by column values given in the query (`?label=s1*&project=P`);
    `*` is a wildcard, matching ignores case, unknown columns are ignored."""
    filters = {k: v for k, v in query.items() if k not in NOT_FILTERS}
    if not filters or not rows:
        return rows
    kept = []
    for row in rows:
        lowered = {k.lower(): _text(v) for k, v in row.items()}
        if all(
            fnmatch.fnmatch(lowered[key.lower()].lower(), pattern.lower())
            for key, pattern in filters.items()
            if key.lower() in lowered
        ):
            kept.append(row)
    return kept


def result_set(
    rows: list[dict[str, Any]],
    fmt: str | None,
    title: str = "",
    query: Mapping[str, str] | None = None,
) -> Response:
    """A listing in the requested format (json unless `format=csv|xml|html`), filtered by the
    column values in `query`."""
    fmt = (fmt or "json").lower()
    rows = matching_rows(rows, query or {})
    cells = [{k: _text(v) for k, v in row.items()} for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=_columns(cells), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(cells)
        return Response(out.getvalue(), media_type="text/csv")
    if fmt == "xml":
        columns = _columns(cells)
        head = "".join(f"<column>{escape(c)}</column>" for c in columns)
        body = "".join(
            "<row>" + "".join(f"<cell>{escape(row.get(c, ''))}</cell>" for c in columns) + "</row>"
            for row in cells
        )
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ResultSet xmlns="{RESULT_SET_NS}" '
            f'totalRecords="{len(cells)}"><results><columns>{head}</columns><rows>{body}</rows>'
            "</results></ResultSet>"
        )
        return Response(xml, media_type="text/xml")
    if fmt == "html":
        columns = _columns(cells)
        head = "".join(f"<th>{escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(row.get(c, ''))}</td>" for c in columns) + "</tr>"
            for row in cells
        )
        page = f"<html><body><h3>{escape(title)}</h3><table><tr>{head}</tr>{body}</table></body></html>"
        return Response(page, media_type="text/html")
    payload = {"ResultSet": {"Result": cells, "totalRecords": str(len(cells)), "title": title}}
    return Response(json.dumps(payload), media_type="application/json")


def item_response(
    xsi_type: str,
    data_fields: dict[str, Any],
    children: list[dict[str, Any]] | None = None,
    start_date: str = "",
) -> Response:
    """One object the way XNAT's `?format=json` answers it."""
    item = {
        "children": children or [],
        "meta": {
            "create_event_id": 1,
            "xsi:type": xsi_type,
            "isHistory": False,
            "start_date": start_date,
        },
        "data_fields": {k: v for k, v in data_fields.items() if v is not None and v != ""},
    }
    return Response(json.dumps({"items": [item]}), media_type="application/json")


def put_answer(object_id: str, new: bool) -> Response:
    """XNAT answers a PUT with the object's ID: 201 when it was created, 200 when updated."""
    return Response(object_id, status_code=201 if new else 200, media_type="text/plain")
