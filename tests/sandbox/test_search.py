"""XNAT's search engine over REST (`/data/search`), its elements and fields, saved searches,
and pyxnat's `select(...).where(...)` and object `repr` on top of them. Each test names the XNAT
class it follows."""

from __future__ import annotations

import csv
import io

import pytest
import pyxnat
import requests

from xnat_plugin.sandbox.server import SandboxServer

BUNDLE = (
    '<xdat:bundle xmlns:xdat="http://nrg.wustl.edu/security" ID="@{root}" '
    'brief-description="{brief}" description="" allow-diff-columns="0" secure="{secure}">'
    "<xdat:root_element_name>{root}</xdat:root_element_name>{fields}"
    '<xdat:search_where method="{method}">{criteria}</xdat:search_where></xdat:bundle>'
)


def _bundle(
    root: str,
    fields: list[str],
    criteria: list[tuple[str, str, str]],
    method: str = "AND",
    brief: str = "",
    secure: str = "false",
) -> str:
    columns = "".join(
        f"<xdat:search_field><xdat:element_name>{f.split('/')[0]}</xdat:element_name>"
        f"<xdat:field_ID>{f.split('/', 1)[1]}</xdat:field_ID><xdat:sequence>{i}</xdat:sequence>"
        "<xdat:type>string</xdat:type></xdat:search_field>"
        for i, f in enumerate(fields)
    )
    where = "".join(
        '<xdat:criteria override_value_formatting="0">'
        f"<xdat:schema_field>{f}</xdat:schema_field>"
        f"<xdat:comparison_type>{op}</xdat:comparison_type><xdat:value>{v}</xdat:value>"
        "</xdat:criteria>"
        for f, op, v in criteria
    )
    return BUNDLE.format(
        root=root, fields=columns, method=method, criteria=where, brief=brief, secure=secure
    )


@pytest.fixture
def admin(sandbox: SandboxServer) -> requests.Session:
    session = requests.Session()
    session.auth = (sandbox.user, sandbox.password)
    url = sandbox.url
    assert session.put(f"{url}/data/projects/P", params={"name": "Project P"}).ok
    assert session.put(f"{url}/data/projects/Q", params={"name": "Project Q"}).ok
    subject = f"{url}/data/projects/P/subjects"
    assert session.put(f"{subject}/s1", params={"gender": "female", "dob": "1980-05-01"}).ok
    assert session.put(f"{subject}/s2", params={"gender": "male", "yob": "1970"}).ok
    assert session.put(f"{url}/data/projects/Q/subjects/q1").ok
    for label, xsi_type, date in (
        ("s1_MR", "xnat:mrSessionData", "2020-01-01"),
        ("s1_CT", "xnat:ctSessionData", "2020-06-01"),
    ):
        made = session.put(
            f"{subject}/s1/experiments/{label}", params={"xsiType": xsi_type, "date": date}
        )
        assert made.status_code == 201
    return session


def _search(admin: requests.Session, url: str, bundle: str) -> list[dict[str, str]]:
    found = admin.post(f"{url}/data/search", params={"format": "csv"}, data=bundle)
    assert found.status_code == 200, found.text
    return list(csv.DictReader(io.StringIO(found.text)))


def test_the_search_elements_and_their_searchable_fields(sandbox, admin) -> None:
    """`SearchElementListResource` lists the data types; `SearchFieldListResource` lists an
    element's display fields that are searchable (`df.isSearchable()`), all with `showAll`."""
    elements = admin.get(f"{sandbox.url}/data/search/elements", params={"format": "json"})
    rows = {r["ELEMENT_NAME"]: r for r in elements.json()["ResultSet"]["Result"]}
    assert rows["xnat:subjectData"]["COUNT"] == "3"
    assert rows["xnat:mrSessionData"]["PLURAL"] == "MR Sessions"
    fields = admin.get(
        f"{sandbox.url}/data/search/elements/xnat:subjectData", params={"format": "json"}
    ).json()["ResultSet"]["Result"]
    ids = [f["FIELD_ID"] for f in fields]
    assert "DOB" in ids and "GENDER_TEXT" in ids and "PROJECT" in ids
    assert "SUBJECT_ID" not in ids  # not searchable in subjectData_display.xml
    every = admin.get(
        f"{sandbox.url}/data/search/elements/xnat:subjectData",
        params={"format": "json", "showAll": "true"},
    ).json()["ResultSet"]["Result"]
    assert "SUBJECT_ID" in [f["FIELD_ID"] for f in every]
    unknown = admin.get(f"{sandbox.url}/data/search/elements/xnat:noSuchData")
    assert unknown.status_code == 400


def test_a_search_names_its_columns_as_xnat_does(sandbox, admin) -> None:
    """`SearchResource.setColumnProperties`: a field of the root element is its display field
    ID in lower case; a field of another element is `<element sql name>_<field id>`. Display
    fields compute as their documents say (GENDER_TEXT `M/F/U`, DOB the year of birth)."""
    rows = _search(
        admin,
        sandbox.url,
        _bundle(
            "xnat:subjectData",
            [
                "xnat:subjectData/SUBJECT_LABEL",
                "xnat:subjectData/GENDER_TEXT",
                "xnat:subjectData/DOB",
                "xnat:projectData/NAME",
            ],
            [("xnat:subjectData/PROJECT", "=", "P")],
        ),
    )
    assert sorted(rows, key=lambda r: r["subject_label"]) == [
        {
            "subject_label": "s1",
            "gender_text": "F",
            "dob": "1980",
            "xnat_projectdata_name": "Project P",
        },
        {
            "subject_label": "s2",
            "gender_text": "M",
            "dob": "1970",
            "xnat_projectdata_name": "Project P",
        },
    ]


def test_criteria_take_display_fields_xml_paths_like_and_or(sandbox, admin) -> None:
    """`DisplaySearch` criteria: a display field or an XML path of the element; `LIKE` with
    `%`; a `child_set` and the `method` of each set (AND/OR)."""
    url = sandbox.url
    like = _search(
        admin,
        url,
        _bundle(
            "xnat:subjectData",
            ["xnat:subjectData/SUBJECT_LABEL"],
            [("xnat:subjectData/label", "LIKE", "s%")],
        ),
    )
    assert sorted(r["subject_label"] for r in like) == ["s1", "s2"]
    either = _search(
        admin,
        url,
        _bundle(
            "xnat:subjectData",
            ["xnat:subjectData/SUBJECT_LABEL"],
            [("xnat:subjectData/GENDER_TEXT", "=", "M"), ("xnat:subjectData/label", "=", "q1")],
            method="OR",
        ),
    )
    assert sorted(r["subject_label"] for r in either) == ["q1", "s2"]
    # a session search carries the subject's values and the session's own computed age
    sessions = _search(
        admin,
        url,
        _bundle(
            "xnat:mrSessionData",
            ["xnat:mrSessionData/LABEL", "xnat:mrSessionData/AGE", "xnat:subjectData/GENDER_TEXT"],
            [("xnat:mrSessionData/PROJECT", "=", "P")],
        ),
    )
    assert sessions == [{"label": "s1_MR", "age": "39", "xnat_subjectdata_gender_text": "F"}]


def test_a_search_shows_only_what_the_caller_may_read(sandbox, admin) -> None:
    """`DisplaySearch` adds the caller's read permissions to every search
    (`Permissions.getAllowedValues`): a user who is no member of P sees none of its subjects."""
    url = sandbox.url
    created = admin.post(
        f"{url}/xapi/users",
        json={"username": "outsider", "password": "outsider-pw", "email": "o@example.org"},
    )
    assert created.status_code == 201, created.text
    assert admin.put(f"{url}/data/projects/Q/users/Members/outsider").ok
    outsider = requests.Session()
    outsider.auth = ("outsider", "outsider-pw")
    rows = _search(
        outsider,
        url,
        _bundle(
            "xnat:subjectData",
            ["xnat:subjectData/SUBJECT_LABEL"],
            [("xnat:subjectData/label", "LIKE", "%")],
        ),
    )
    assert [r["subject_label"] for r in rows] == ["q1"]


def test_what_is_not_a_search_is_refused(sandbox, admin) -> None:
    """`SearchResource.handlePost`: a document that is no `xdat:stored_search` is 422; a field
    no display document defines makes `DisplaySearch` throw (500)."""
    url = sandbox.url
    assert admin.post(f"{url}/data/search", data="<xnat:Project/>").status_code == 422
    unknown = admin.post(
        f"{url}/data/search",
        data=_bundle("xnat:subjectData", ["xnat:subjectData/NO_SUCH_FIELD"], []),
    )
    assert unknown.status_code == 500


def test_saved_searches_are_stored_listed_run_and_deleted(sandbox, admin) -> None:
    """`SavedSearchResource.handlePut` stores a bundle under the URL's ID with its creator
    among its users; `SavedSearchListResource` lists it; `/results` runs it."""
    url = sandbox.url
    bundle = _bundle(
        "xnat:subjectData",
        ["xnat:subjectData/SUBJECT_LABEL"],
        [("xnat:subjectData/PROJECT", "=", "Q")],
        brief="q_subjects",
        secure="true",
    )
    assert admin.put(f"{url}/data/search/saved/q_subjects", data=bundle).ok
    listed = admin.get(f"{url}/data/search/saved", params={"format": "json"}).json()
    rows = listed["ResultSet"]["Result"]
    assert [(r["id"], r["brief_description"]) for r in rows] == [("q_subjects", "q_subjects")]
    assert "admin" in rows[0]["users"]
    back = admin.get(f"{url}/data/search/saved/q_subjects")
    assert back.status_code == 200 and "q_subjects" in back.text
    results = admin.get(f"{url}/data/search/saved/q_subjects/results", params={"format": "csv"})
    assert list(csv.DictReader(io.StringIO(results.text))) == [{"subject_label": "q1"}]
    assert admin.delete(f"{url}/data/search/saved/q_subjects").ok
    assert admin.get(f"{url}/data/search/saved/q_subjects").status_code == 404


def test_pyxnat_where_and_repr_run_on_the_search(sandbox, admin) -> None:
    """pyxnat's `select(type, columns).where(...)`, `inspect.field_values` and the `repr` of a
    project, subject and experiment all POST bundles to `/data/search`."""
    interface = pyxnat.Interface(server=sandbox.url, user=sandbox.user, password=sandbox.password)
    table = interface.select(
        "xnat:subjectData", ["xnat:subjectData/SUBJECT_LABEL", "xnat:subjectData/GENDER_TEXT"]
    ).where([("xnat:subjectData/PROJECT", "=", "P"), "AND"])
    assert sorted((r["subject_label"], r["gender_text"]) for r in table.data) == [
        ("s1", "F"),
        ("s2", "M"),
    ]
    assert sorted(interface.inspect.field_values("xnat:subjectData/PROJECT")) == ["P", "Q"]
    project = repr(interface.select.project("P"))
    assert "`Project P` (protected) 2 subjects 1 MR experiment 1 CT experiment" in project
    assert "(owner: admin)" in project
    assert "(Gender: F)" in repr(interface.select.project("P").subject("s1"))
