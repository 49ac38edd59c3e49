"""XNAT's search engine over REST: `POST /data/search` with an `xdat:bundle`, the search
elements and fields, and saved searches.

- `SearchResource.handlePost`: the body is a stored search (`xdat:bundle`, anything else is
  422); the rows are the objects of the root element (and of every type that extends it) the
  caller may read that meet `search_where`; each `search_field` is a column named by its display
  field ID in lower case, or `<element sql name>_<field id>` for a field of a joined element
  (`setColumnProperties`). A criterion names a display field (`xnat:subjectData/GENDER_TEXT`) or an
  XML path (`xnat:subjectData/label`); `LIKE` takes `%` and `_`. A field no display document
  defines fails the search (500, as `DisplaySearch` throws).
- `SearchElementListResource` / `SearchFieldListResource`: `/data/search/elements[/{type}]`.
- `SavedSearchListResource` / `SavedSearchResource`: `/data/search/saved[/{id}[/results]]`; a
  search is listed to its allowed users, or to everyone when it is not `secure`.
"""

from __future__ import annotations

import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from xnat_plugin.sandbox import object_views, project_rules, xsi_types
from xnat_plugin.sandbox.auth import CurrentUser, User
from xnat_plugin.sandbox.db import Database
from xnat_plugin.sandbox.listing import result_set
from xnat_plugin.sandbox.search_fields import (
    DISPLAYS,
    PROJECT_TYPE,
    SUBJECT_TYPE,
    DisplayField,
    Found,
    display_type,
    field,
    sql_name,
)

router = APIRouter()
XDAT = "http://nrg.wustl.edu/security"
_X = f"{{{XDAT}}}"
# Elements a search may be about that have no display document here are still listed (XNAT lists
# every element with one); their fields are not offered.
OTHER_ELEMENTS = [
    ("xnat:ctScanData", "CT Scan", "CT Scans"),
    ("xnat:mrScanData", "MR Scan", "MR Scans"),
    ("xnat:qcAssessmentData", "QC Assessment", "QC Assessments"),
    ("icr:roiCollectionData", "ROI Collection", "ROI Collections"),
]


class SearchFailed(Exception):
    """What `DisplaySearch` throws on: an unknown element or field."""


# ------------------------------------------------------------------------ the objects searched
def _readable_projects(db: Database, user: User) -> list[sqlite3.Row]:
    return [
        r for r in db.query("SELECT * FROM projects ORDER BY id") if project_rules.can_read(user, r)
    ]


def _objects(db: Database, user: User, root: str) -> list[tuple[Found, dict[str, Found]]]:
    """Each object of `root` the user may read, with the objects joined to it by type."""
    projects = {r["id"]: r for r in _readable_projects(db, user)}
    project_found = {pid: _project_found(db, row) for pid, row in projects.items()}
    if root == PROJECT_TYPE:
        return [(found, {}) for found in project_found.values()]
    shares: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for share in db.query("SELECT * FROM shares ORDER BY rowid"):
        shares.setdefault((share["kind"], share["id"]), []).append(
            (share["project"], share["label"])
        )

    def visible(kind: str, row: sqlite3.Row) -> bool:
        # read access through the object's project or one it is shared into
        return row["project"] in projects or any(
            p in projects for p, _ in shares.get((kind, row["id"]), [])
        )

    def found(kind: str, listed: Any, object_id: str) -> Found:
        into = shares.get((kind, object_id), [])
        return Found(
            listed,
            shared_into=tuple(p for p, _ in into),
            shared_labels=tuple(label for _, label in into),
        )

    subjects = {r["id"]: r for r in db.query("SELECT * FROM subjects ORDER BY id")}
    if root == SUBJECT_TYPE:
        return [
            (
                found("subject", object_views.subject_row(row), row["id"]),
                _project_join(project_found, row["project"]),
            )
            for row in subjects.values()
            if visible("subject", row)
        ]
    out = []
    for row in db.query("SELECT * FROM experiments WHERE session_id IS NULL ORDER BY id"):
        if not xsi_types.derives_from(row["xsi_type"], root) or not visible("experiment", row):
            continue
        subject = subjects.get(row["subject_id"])
        joined = _project_join(project_found, row["project"])
        if subject is not None:
            joined[SUBJECT_TYPE] = found(
                "subject", object_views.subject_row(subject), subject["id"]
            )
        out.append(
            (found("experiment", object_views.experiment_row(row, subject), row["id"]), joined)
        )
    return out


def _project_join(project_found: dict[str, Found], project_id: str) -> dict[str, Found]:
    return {PROJECT_TYPE: project_found[project_id]} if project_id in project_found else {}


def _project_found(db: Database, row: sqlite3.Row) -> Found:
    counts = Counter(
        r["xsi_type"]
        for r in db.query(
            # `PROJ_EXPT_COUNTS`: the project's experiments and those shared into it
            "SELECT xsi_type FROM experiments WHERE project = ? UNION ALL SELECT e.xsi_type "
            "FROM shares sh JOIN experiments e ON sh.kind = 'experiment' AND sh.id = e.id "
            "WHERE sh.project = ?",
            (row["id"], row["id"]),
        )
    )
    users = tuple(
        (r["login"], r["role"])
        for r in db.query("SELECT login, role FROM project_users WHERE project = ?", (row["id"],))
    )
    listed = object_views.project_row(row)
    listed.columns["accessibility"] = row["accessibility"]
    return Found(listed, session_counts=dict(counts), users=users)


# ------------------------------------------------------------------------------ the bundle
@dataclass
class Bundle:
    root: str
    columns: list[tuple[str, str]]  # (element, field id)
    where: ET.Element | None
    brief: str
    description: str
    secure: bool
    users: list[str]


def parse_bundle(data: bytes) -> Bundle:
    """An `xdat:bundle` (`xdat:stored_search`); anything else is 422 as in
    `SearchResource.handlePost` (`item.instanceOf("xdat:stored_search")`)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise HTTPException(422, f"malformed XML: {exc}") from exc
    if root.tag not in (f"{_X}bundle", f"{_X}stored_search"):
        raise HTTPException(422, "Unprocessable Entity")
    element = (root.findtext(f"{_X}root_element_name") or "").strip()
    columns = [
        (
            (node.findtext(f"{_X}element_name") or "").strip(),
            (node.findtext(f"{_X}field_ID") or "").strip(),
        )
        for node in root.findall(f"{_X}search_field")
    ]
    return Bundle(
        root=element,
        columns=columns,
        where=root.find(f"{_X}search_where"),
        brief=root.get("brief-description", ""),
        description=root.get("description", ""),
        secure=root.get("secure", "false").lower() in ("1", "true"),
        users=[(n.text or "").strip() for n in root.findall(f"{_X}allowed_user/{_X}login")],
    )


def _value_of(found: Found, joined: dict[str, Found], element: str, name: str) -> str:
    """The value of `element/name` (a display field, else an XML path) for this object."""
    target = display_type(element)
    if target is None:
        raise SearchFailed(f"Element not found: {element}")
    source = found if xsi_types.derives_from(found.row.xsi_type, target) else joined.get(target)
    display = field(target, name)
    if source is None:
        if display is None and "/" not in name and not _is_path(target, name):
            raise SearchFailed(f"Display field not found: {element}.{name}")
        return ""
    if display is not None:
        return display.value(source)
    value = source.row.by_path(target, name)
    if value is None or (value == "" and not _is_path(target, name)):
        raise SearchFailed(f"Display field not found: {element}.{name}")
    return value


def _is_path(xsi_type: str, path: str) -> bool:
    from xnat_plugin.sandbox import field_paths

    return (
        path.upper() in ("ID", "LABEL", "PROJECT")
        or field_paths.resolve(xsi_type, path) is not None
    )


def _like(value: str, pattern: str) -> bool:
    """SQL `LIKE`: `%` any run, `_` one character; the other characters as written."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _compare(value: str, operator: str, wanted: str) -> bool:
    operator = operator.strip().upper()
    if operator == "LIKE":
        return _like(value, wanted)
    if operator in ("IS", "IS NULL") or (operator == "=" and wanted.upper() == "NULL"):
        return value == ""
    if operator in ("IS NOT", "IS NOT NULL"):
        return value != ""
    left, right = _number(value), _number(wanted)
    pair: tuple[Any, Any] = (
        (left, right) if left is not None and right is not None else (value, wanted)
    )
    if operator == "=":
        return bool(pair[0] == pair[1])
    if operator in ("!=", "<>"):
        return bool(pair[0] != pair[1])
    if value == "":
        return False  # NULL compares to nothing
    checks = {
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    if operator not in checks:
        raise SearchFailed(f"unknown comparison type {operator!r}")
    return bool(checks[operator](*pair))


def _meets(found: Found, joined: dict[str, Found], where: ET.Element | None) -> bool:
    if where is None:
        return True
    method = (where.get("method") or "AND").upper()
    results = []
    for node in where:
        if node.tag == f"{_X}criteria":
            schema_field = (node.findtext(f"{_X}schema_field") or "").strip()
            element, _, name = schema_field.partition("/")
            value = _value_of(found, joined, element, name)
            results.append(
                _compare(
                    value,
                    node.findtext(f"{_X}comparison_type") or "=",
                    node.findtext(f"{_X}value") or "",
                )
            )
        elif node.tag == f"{_X}child_set":
            results.append(_meets(found, joined, node))
    if not results:
        return True
    return any(results) if method == "OR" else all(results)


def run(db: Database, user: User, bundle: Bundle) -> list[dict[str, str]]:
    """The rows of a search, columns as `SearchResource.setColumnProperties` names them."""
    root = display_type(bundle.root)
    if root is None:
        raise SearchFailed(f"Element not found: {bundle.root}")
    rows = []
    for found, joined in _objects(db, user, root):
        if not _meets(found, joined, bundle.where):
            continue
        row: dict[str, str] = {}
        for element, name in bundle.columns:
            target = display_type(element)
            if target is None or field(target, name) is None:
                raise SearchFailed(f"Display field not found: {element}.{name}")
            header = name.lower() if target == root else f"{sql_name(target)}_{name}".lower()
            row[header] = _value_of(found, joined, element, name)
        rows.append(row)
    return rows


def _answer(db: Database, user: User, bundle: Bundle, fmt: str | None) -> Response:
    try:
        rows = run(db, user, bundle)
    except SearchFailed as exc:
        raise HTTPException(500, str(exc)) from exc
    if not rows and (fmt or "json").lower() == "csv":
        headers = [
            name.lower()
            if display_type(element) == display_type(bundle.root)
            else f"{sql_name(display_type(element) or element)}_{name}".lower()
            for element, name in bundle.columns
        ]
        return Response(",".join(headers) + "\n", media_type="text/csv")
    return result_set(rows, fmt, "Search")


@router.post("/data/search")
@router.post("/REST/search")
async def search(request: Request, user: CurrentUser) -> Response:
    bundle = parse_bundle(await _document(request))
    return _answer(request.app.state.db, user, bundle, request.query_params.get("format"))


async def _document(request: Request) -> bytes:
    """The bundle: the body, or the `.xml` file of a multipart upload."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        for value in form.values():
            if getattr(value, "filename", "").endswith(".xml"):
                return await value.read()  # type: ignore[union-attr]
        raise HTTPException(422, "Unprocessable Entity")
    return await request.body()


# --------------------------------------------------------------------- elements and fields
@router.get("/data/search/elements")
@router.get("/REST/search/elements")
def search_elements(request: Request, user: CurrentUser) -> Response:
    db = request.app.state.db
    rows = []
    for xsi_type, (singular, plural, _) in DISPLAYS.items():
        rows.append(
            {
                "ELEMENT_NAME": xsi_type,
                "SINGULAR": singular,
                "PLURAL": plural,
                "COUNT": str(len(_objects(db, user, xsi_type))),
                "SECURED": "true",
            }
        )
    for xsi_type, singular, plural in OTHER_ELEMENTS:
        rows.append(
            {
                "ELEMENT_NAME": xsi_type,
                "SINGULAR": singular,
                "PLURAL": plural,
                "COUNT": "0",
                "SECURED": "true",
            }
        )
    return result_set(rows, request.query_params.get("format"), "Search elements")


def _field_row(xsi_type: str, display: DisplayField) -> dict[str, str]:
    return {
        "FIELD_ID": display.id,
        "HEADER": display.header,
        "SUMMARY": display.description,
        "TYPE": display.data_type,
        "REQUIRES_VALUE": "false",
        "DESC": display.description or display.header or display.id,
        "ELEMENT_NAME": xsi_type,
        "SRC": "0",
        "VISIBLE": "true",
        "SEARCHABLE": str(display.searchable).lower(),
        "VALUE": "",
    }


@router.get("/data/search/elements/{element}")
@router.get("/REST/search/elements/{element}")
def search_element_fields(element: str, request: Request, user: CurrentUser) -> Response:  # noqa: ARG001
    """`SearchFieldListResource`: the searchable display fields (all with `showAll=true`); an
    element XNAT does not know is 400."""
    show_all = request.query_params.get("showAll", "").lower() == "true"
    rows = []
    for name in element.split(","):
        xsi_type = display_type(name)
        if xsi_type is None:
            if xsi_types.known(name) or name in {t for t, _, _ in OTHER_ELEMENTS}:
                continue
            raise HTTPException(400, f"Element not found: {name}")
        rows += [
            _field_row(xsi_type, display)
            for display in DISPLAYS[xsi_type][2]
            if show_all or display.searchable
        ]
    return result_set(rows, request.query_params.get("format"), "Search Fields")


# ------------------------------------------------------------------------- saved searches
def _saved(db: Database, search_id: str) -> sqlite3.Row | None:
    return db.query_one("SELECT * FROM saved_searches WHERE id = ?", (search_id,))


def _may_see(row: sqlite3.Row, user: User) -> bool:
    return user.is_admin or not row["secure"] or user.login in json.loads(row["users"])


@router.get("/data/search/saved")
@router.get("/REST/search/saved")
def list_saved(request: Request, user: CurrentUser) -> Response:
    rows = [
        {
            "id": r["id"],
            "brief_description": r["brief_description"],
            "description": r["description"],
            "root_element_name": r["root_element_name"],
            "secure": str(r["secure"]),
            "tag": "",
            "users": ",".join(json.loads(r["users"])),
        }
        for r in request.app.state.db.query("SELECT * FROM saved_searches ORDER BY id")
        if _may_see(r, user)
    ]
    return result_set(rows, request.query_params.get("format"), "Stored Searches")


@router.put("/data/search/saved/{search_id}")
@router.put("/REST/search/saved/{search_id}")
async def put_saved(search_id: str, request: Request, user: CurrentUser) -> Response:
    """`SavedSearchResource.handlePut`: the search takes the ID in the URL; a new one lists its
    creator among its users; changing another's search is 403."""
    data = await request.body()
    bundle = parse_bundle(data)
    db = request.app.state.db
    existing = _saved(db, search_id)
    users = bundle.users
    if (
        existing is not None
        and not user.is_admin
        and user.login not in json.loads(existing["users"])
    ):
        raise HTTPException(403, "Forbidden")
    if user.login not in users:
        users = [*users, user.login]
    with db.write() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO saved_searches (id, brief_description, description, "
            "root_element_name, secure, users, xml) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                search_id,
                bundle.brief,
                bundle.description,
                bundle.root,
                int(bundle.secure),
                json.dumps(users),
                data.decode("utf-8", "replace"),
            ),
        )
    return Response(status_code=200)


def _visible(request: Request, user: User, search_id: str) -> sqlite3.Row:
    row = _saved(request.app.state.db, search_id)
    if row is None:
        raise HTTPException(404, f"search {search_id} not found")
    if not _may_see(row, user):
        raise HTTPException(403, "Forbidden")
    return row


@router.get("/data/search/saved/{search_id}")
@router.get("/REST/search/saved/{search_id}")
def get_saved(search_id: str, request: Request, user: CurrentUser) -> Response:
    row = _visible(request, user, search_id)
    return Response(row["xml"], media_type="text/xml")


@router.get("/data/search/saved/{search_id}/results")
@router.get("/REST/search/saved/{search_id}/results")
def saved_results(search_id: str, request: Request, user: CurrentUser) -> Response:
    row = _visible(request, user, search_id)
    bundle = parse_bundle(row["xml"].encode())
    return _answer(request.app.state.db, user, bundle, request.query_params.get("format"))


@router.delete("/data/search/saved/{search_id}")
@router.delete("/REST/search/saved/{search_id}")
def delete_saved(search_id: str, request: Request, user: CurrentUser) -> Response:
    row = _visible(request, user, search_id)
    if not user.is_admin and user.login not in json.loads(row["users"]):
        raise HTTPException(403, "Forbidden")
    with request.app.state.db.write() as conn:
        conn.execute("DELETE FROM saved_searches WHERE id = ?", (search_id,))
    return Response(status_code=200)
