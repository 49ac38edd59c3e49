"""The display fields XNAT's search engine offers for each data type, and their values.

XNAT describes what a search can show and filter on in one display document per data type
(`schemas/xnat/display/<type>_display.xml`: `DisplayField id header data-type searchable`, each
read from schema elements or computed in SQL). `/data/search/elements/{type}` lists the
searchable ones (`SearchFieldListResource`), `/data/search` returns them as columns
(`SearchResource`, `DisplaySearch`). The sandbox carries the fields of the data types it stores
(projects, subjects, CT/MR/PET sessions), computed as the display documents compute them;
fields that read XNAT's own tables the sandbox does not keep (investigator lists, workflows,
item access, favourites, per-project labels and custom field maps) are left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from xnat_plugin.sandbox import xsi_types
from xnat_plugin.sandbox.listing_columns import Row

PROJECT_TYPE = "xnat:projectData"
SUBJECT_TYPE = "xnat:subjectData"
SESSION_TYPES = ("xnat:ctSessionData", "xnat:mrSessionData", "xnat:petSessionData")


@dataclass(frozen=True)
class Found:
    """One object a search looks at: its row and what the display documents compute from other
    tables (the projects it is shared into, its project's session counts)."""

    row: Row
    shared_into: tuple[str, ...] = ()
    shared_labels: tuple[str, ...] = ()
    session_counts: dict[str, int] | None = None  # projects: xsi type -> count
    users: tuple[tuple[str, str], ...] = ()  # projects: (login, role)


Value = Callable[[Found], str]


@dataclass(frozen=True)
class DisplayField:
    id: str
    header: str
    data_type: str  # string, integer, date, float
    searchable: bool
    value: Value
    description: str = ""


def _column(name: str) -> Value:
    return lambda found: found.row.columns.get(name, "")


def _path(path: str) -> Value:
    return lambda found: found.row.by_path(found.row.xsi_type, path) or ""


def _first_of(*values: Value) -> Value:
    """SQL `COALESCE`: the first value that is not empty."""

    def pick(found: Found) -> str:
        return next((v for v in (value(found) for value in values) if v), "")

    return pick


def _code(path: str, codes: dict[str, str], other: str | None) -> Value:
    """SQL `CASE value WHEN … THEN … ELSE other END` on the lower-cased value."""

    def pick(found: Found) -> str:
        value = _path(path)(found).lower()
        if value in codes:
            return codes[value]
        return "" if other is None else other

    return pick


def _year_of_birth(found: Found) -> str:
    """`DOB`: `COALESCE(yob, EXTRACT(YEAR FROM dob))`."""
    yob = _path("demographics/yob")(found)
    if yob:
        return str(int(float(yob)))
    dob = _path("demographics/dob")(found)
    return dob[:4] if dob else ""


def _age_bracket(found: Found) -> str:
    """`AGE_BRACKET`: `90+`, else the five-year bracket holding the age (integer division)."""
    age = _path("demographics/age")(found)
    if not age:
        return ""
    years = int(float(age))
    if years > 89:
        return "90+"
    low = (years // 5) * 5
    return f"{low}-{low + 4}"


def _projects(found: Found, *, subject: bool) -> str:
    """`SUB_PROJECTS` (`,<P>` per project) and `<TYPE>_PROJECTS` (`<P>`, then `,<Q>` per
    project it is shared into)."""
    own = found.row.columns.get("project", "")
    shared = "".join(f",<{p}>" for p in found.shared_into)
    return f",<{own}>{shared}" if subject else f"<{own}>{shared}"


def _add_ids(found: Found) -> str:
    """`SUBJECT_IDS.ADDIDS`: the label, then `, `-joined labels in the projects it is shared
    into (empty when it is shared nowhere, as SQL's `||` with NULL)."""
    if not found.shared_labels:
        return ""
    return f"{found.row.columns.get('label', '')}, " + ", ".join(found.shared_labels)


def _session_age(found: Found) -> str:
    """Session `AGE`: years between the subject's date of birth and the session date, else the
    session year minus the year of birth (SQL `AGE`/`EXTRACT`)."""
    date = found.row.columns.get("date", "")
    if not date:
        return ""
    subject = found.row.joined.get(SUBJECT_TYPE)
    values = subject[2] if subject else {}
    try:
        when = dt.date.fromisoformat(date[:10])
        dob = values.get("demographics[@xsi:type=xnat:demographicData]/dob") or values.get(
            "demographics/dob", ""
        )
        if dob:
            born = dt.date.fromisoformat(dob[:10])
            return str(when.year - born.year - ((when.month, when.day) < (born.month, born.day)))
        yob = values.get("demographics[@xsi:type=xnat:demographicData]/yob") or values.get(
            "demographics/yob", ""
        )
        return str(when.year - int(float(yob))) if yob else ""
    except ValueError:
        return ""


def _count(xsi_type: str) -> Value:
    """`PROJ_<M>_COUNTS`: the project's experiments of that type, its own and those shared into
    it; a project with none has no row in the view, so the value is empty."""

    def count(found: Found) -> str:
        number = (found.session_counts or {}).get(xsi_type, 0)
        return str(number) if number else ""

    return count


def _users(*roles: str) -> Value:
    """`PROJECT_USERS` and its per-group siblings: `TRIM('<br/>' FROM xs_a_concat(' ' || login ||
    ' <br/>'))` over the logins in the project's groups (TRIM drops those characters from
    both ends)."""

    def joined(found: Found) -> str:
        logins = sorted({login for login, role in found.users if not roles or role in roles})
        return "".join(f" {login} <br/>" for login in logins).strip("<br/>")

    return joined


PROJECT_FIELDS = (
    DisplayField("INSERT_DATE", "Inserted", "string", True, _column("insert_date")),
    DisplayField("INSERT_USER", "Creator", "string", True, _column("insert_user")),
    DisplayField("ID", "ID", "string", True, _column("ID")),
    DisplayField(
        "URI", "uri", "string", False, lambda f: f"/archive/projects/{f.row.columns['ID']}"
    ),
    DisplayField("NAME", "Title", "string", True, _column("name")),
    DisplayField("NAME_CSV", "Title", "string", True, _column("name")),
    DisplayField(
        "DESCRIPTION", "Description", "string", True, lambda f: f.row.columns["description"][:161]
    ),
    DisplayField("DESCRIPTION_CSV", "Description", "string", True, _column("description")),
    DisplayField("SECONDARY_ID", "Running Title", "string", True, _column("secondary_ID")),
    DisplayField("KEYWORDS", "Keywords", "string", True, _path("keywords")),
    DisplayField(
        "PI",
        "PI",
        "string",
        True,
        lambda f: (
            f"{_path('PI/firstname')(f)} {_path('PI/lastname')(f)}"
            if _path("PI/firstname")(f) and _path("PI/lastname")(f)
            else ""
        ),
    ),
    DisplayField("PROJECT_ACCESS", "Accessibility", "string", True, _column("accessibility")),
    DisplayField("PROJECT_USERS", "Users", "string", True, _users()),
    DisplayField("PROJECT_OWNERS", "Owners", "string", True, _users("owner")),
    DisplayField("PROJECT_MEMBERS", "Members", "string", True, _users("member")),
    DisplayField("PROJECT_COLLABS", "Collaborators", "string", True, _users("collaborator")),
    DisplayField("PROJ_MR_COUNT", "MR Count", "integer", True, _count("xnat:mrSessionData")),
    DisplayField("PROJ_CT_COUNT", "CT Count", "integer", True, _count("xnat:ctSessionData")),
    DisplayField("PROJ_PET_COUNT", "PET Count", "integer", True, _count("xnat:petSessionData")),
    DisplayField("PROJ_UT_COUNT", "UT Count", "integer", True, _count("xnat:utSessionData")),
)

SUBJECT_FIELDS = (
    DisplayField("SUBJECT_ID", "Subject", "string", False, _column("ID")),
    DisplayField("SUBJECTID", "Subject", "string", False, _column("ID")),
    DisplayField(
        "URI", "uri", "string", False, lambda f: f"/archive/subjects/{f.row.columns['ID']}"
    ),
    DisplayField("INSERT_DATE", "Inserted", "date", True, _column("insert_date")),
    DisplayField("INSERT_USER", "Creator", "string", True, _column("insert_user")),
    DisplayField("GENDER", "Gender", "string", False, _path("demographics/gender")),
    DisplayField(
        "GENDER_TEXT",
        "M/F",
        "string",
        True,
        _code("demographics/gender", {"male": "M", "female": "F"}, "U"),
    ),
    DisplayField("HANDEDNESS", "Hand", "string", False, _path("demographics/handedness")),
    DisplayField(
        "HANDEDNESS_TEXT",
        "Hand",
        "string",
        True,
        _code(
            "demographics/handedness",
            {"left": "L", "right": "R", "ambidextrous": "A", "r": "R", "l": "L", "a": "A"},
            None,
        ),
    ),
    DisplayField("DOB", "YOB", "integer", True, _year_of_birth),
    DisplayField("AGE", "Age", "integer", True, _path("demographics/age")),
    DisplayField("AGE_BRACKET", "Age bracket", "string", True, _age_bracket),
    DisplayField("EDUC", "Education", "string", True, _path("demographics/education")),
    DisplayField("SES", "Ses", "string", True, _path("demographics/ses")),
    DisplayField("INVEST_CSV", "PI", "string", True, _path("investigator/lastname")),
    DisplayField(
        "PROJECTS",
        "Projects",
        "string",
        True,
        lambda f: _projects(f, subject=True),
        "All projects tied to a subject",
    ),
    DisplayField(
        "PROJECT", "Project", "string", True, _column("project"), "Subject's primary project"
    ),
    DisplayField("SUB_GROUP", "Group", "string", True, _path("group")),
    DisplayField(
        "SUBJECT_LABEL", "Subject", "string", False, _first_of(_column("label"), _column("ID"))
    ),
    DisplayField("SHARED_LABEL", "Subject", "string", False, lambda f: ",".join(f.shared_labels)),
    DisplayField("ADD_IDS", "Labels", "string", True, _add_ids),
    DisplayField("RACE", "Race", "string", True, _path("demographics/race")),
    DisplayField("ETHNICITY", "Ethnicity", "string", True, _path("demographics/ethnicity")),
)


def _session_fields(xsi_type: str) -> tuple[DisplayField, ...]:
    """The fields every image session's display document has (`xnat_ctSessionData_display.xml`
    and its siblings)."""
    return (
        DisplayField("SUBJECT_ID", "Subject", "string", True, _column("subject_ID")),
        DisplayField(
            "SESSION_ID",
            "Session",
            "string",
            True,
            _column("ID"),
            f"{xsi_types.prefixed_name(xsi_type)} Accession Number",
        ),
        DisplayField(
            "URI", "uri", "string", False, lambda f: f"/archive/experiments/{f.row.columns['ID']}"
        ),
        DisplayField("EXPT_ID", "ID", "string", True, _column("ID")),
        DisplayField("DATE", "Date", "string", True, _column("date")),
        DisplayField("AGE", "Age", "integer", True, _session_age),
        DisplayField(
            "PROJECTS", "Projects", "string", False, lambda f: _projects(f, subject=False)
        ),
        DisplayField("LABEL", "Label", "string", False, _first_of(_column("label"), _column("ID"))),
        DisplayField("PROJECT", "Project", "string", True, _column("project")),
        DisplayField("INSERT_DATE", "Inserted", "string", True, _column("insert_date")),
        DisplayField("INSERT_USER", "Creator", "string", True, _column("insert_user")),
        DisplayField(
            "DCMACCESSIONNUMBER",
            "dcmAccessionNumber",
            "string",
            True,
            _path("dcmAccessionNumber"),
        ),
        DisplayField("DCMPATIENTID", "dcmPatientId", "string", True, _path("dcmPatientId")),
        DisplayField("DCMPATIENTNAME", "dcmPatientName", "string", True, _path("dcmPatientName")),
        DisplayField("UID", "UID", "string", True, _path("UID")),
    )


DISPLAYS: dict[str, tuple[str, str, tuple[DisplayField, ...]]] = {
    PROJECT_TYPE: ("Project", "Projects", PROJECT_FIELDS),
    SUBJECT_TYPE: ("Subject", "Subjects", SUBJECT_FIELDS),
    "xnat:ctSessionData": ("CT Session", "CT Sessions", _session_fields("xnat:ctSessionData")),
    "xnat:mrSessionData": ("MR Session", "MR Sessions", _session_fields("xnat:mrSessionData")),
    "xnat:petSessionData": ("PET Session", "PET Sessions", _session_fields("xnat:petSessionData")),
}


def display_type(name: str) -> str | None:
    """The data type `name` names (any letter case, as XNAT's element lookup), if it has a
    display document here."""
    return next((t for t in DISPLAYS if t.lower() == name.lower()), None)


def field(xsi_type: str, field_id: str) -> DisplayField | None:
    fields = DISPLAYS[xsi_type][2] if xsi_type in DISPLAYS else ()
    return next((f for f in fields if f.id == field_id.upper()), None)


def sql_name(xsi_type: str) -> str:
    """XFT's SQL name of an element (`xnat:subjectData` → `xnat_subjectData`)."""
    return xsi_type.replace(":", "_")
