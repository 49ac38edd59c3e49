"""Listings and object values as XNAT answers them: `xsiType` filters that keep subtypes,
`columns=`, typed values, custom fields, PET sessions, HEAD, buildInfo, and an assessor read back
as XML that can be sent back. Each test names the XNAT class whose behaviour it pins."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

import pytest
import requests

from tests.sandbox.xml_documents import roi_collection_xml
from xnat_plugin.sandbox.server import SandboxServer

XNAT = "{http://nrg.wustl.edu/xnat}"


@pytest.fixture
def admin(sandbox: SandboxServer) -> requests.Session:
    session = requests.Session()
    session.auth = (sandbox.user, sandbox.password)
    assert session.put(f"{sandbox.url}/data/projects/P").ok
    return session


def _session(admin: requests.Session, url: str, label: str, xsi_type: str, **values: str) -> str:
    made = admin.put(
        f"{url}/data/projects/P/subjects/s1/experiments/{label}",
        params={"xsiType": xsi_type, **values},
    )
    assert made.status_code == 201, made.text
    return made.text


def _csv(response: requests.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def test_an_xsi_type_filter_keeps_every_type_that_extends_it(sandbox, admin) -> None:
    """`ExperimentListResource` / `QueryOrganizer`: the listing's root element is the `xsiType`
    asked for, and every experiment whose type extends it is a row (CT, MR and PET sessions are
    all `xnat:subjectAssessorData`)."""
    for label, xsi_type in (
        ("ct", "xnat:ctSessionData"),
        ("mr", "xnat:mrSessionData"),
        ("pet", "xnat:petSessionData"),
    ):
        _session(admin, sandbox.url, label, xsi_type)
    url = f"{sandbox.url}/data/experiments"
    every = _csv(admin.get(url, params={"xsiType": "xnat:subjectAssessorData", "format": "csv"}))
    assert sorted(r["label"] for r in every) == ["ct", "mr", "pet"]
    # the site-wide listing of subject assessors carries the subject's columns
    # (`ExperimentListResource.getDefaultFields`)
    assert {r["subject_label"] for r in every} == {"s1"}
    sessions = _csv(admin.get(url, params={"xsiType": "xnat:imageSessionData", "format": "csv"}))
    assert len(sessions) == 3
    only_pet = _csv(admin.get(url, params={"xsiType": "xnat:petSessionData", "format": "csv"}))
    assert [r["label"] for r in only_pet] == ["pet"]


def test_columns_name_shortcuts_and_xml_paths(sandbox, admin) -> None:
    """`QueryOrganizerResource.populateQuery`: `columns=` takes the list's shortcuts and XML
    paths; the root ID is always a column (`formatHeaders`) and experiments carry their type
    and project (`ProjSubExptList.represent` checks read access per data type)."""
    _session(admin, sandbox.url, "mr", "xnat:mrSessionData", **{"xnat:mrSessionData/age": "42"})
    rows = _csv(
        admin.get(
            f"{sandbox.url}/data/projects/P/experiments",
            params={"format": "csv", "columns": "label,subject_label,xnat:mrSessionData/age"},
        )
    )
    assert len(rows) == 1
    row = rows[0]
    assert (row["label"], row["subject_label"], row["xnat:mrsessiondata/age"]) == (
        "mr",
        "s1",
        "42.0",
    )
    assert row["ID"] and row["xsiType"] == "xnat:mrSessionData" and row["project"] == "P"
    # a filter on an XML path keeps the rows whose value matches (`age` is a number: ranges)
    url = f"{sandbox.url}/data/projects/P/experiments"
    kept = _csv(admin.get(url, params={"format": "csv", "xnat:mrSessionData/age": "40-45"}))
    assert [r["label"] for r in kept] == ["mr"]
    none = _csv(admin.get(url, params={"format": "csv", "xnat:mrSessionData/age": "50-60"}))
    assert none == []


def test_values_are_stored_as_their_schema_type(sandbox, admin) -> None:
    """`XFTItem.setProperty` converts a value to its field's XSD type: an MR session's `age`
    (xs:float) reads back `42.0`, a subject's demographic `age` (xs:integer) `42`, and
    `fieldStrength` (a string) as sent. pyxnat's attributes_test asserts the same of XNAT."""
    session_id = _session(
        admin,
        sandbox.url,
        "mr",
        "xnat:mrSessionData",
        **{"xnat:mrSessionData/age": "42", "xnat:mrSessionData/fieldStrength": "3"},
    )
    fields = admin.get(f"{sandbox.url}/data/experiments/{session_id}", params={"format": "json"})
    data = fields.json()["items"][0]["data_fields"]
    assert (data["age"], data["fieldStrength"]) == ("42.0", "3")
    assert admin.put(f"{sandbox.url}/data/projects/P/subjects/s1", params={"age": "42"}).ok
    subject = admin.get(f"{sandbox.url}/data/projects/P/subjects/s1", params={"format": "json"})
    children = {c["field"]: c["items"][0] for c in subject.json()["items"][0]["children"]}
    assert children["demographics"]["data_fields"]["age"] == "42"
    assert children["demographics"]["meta"]["xsi:type"] == "xnat:demographicData"


def test_custom_fields_are_kept_as_xnat_keeps_them(sandbox, admin) -> None:
    """Custom variables are `xnat:fields/xnat:field[@name]` items
    (`XnatSubjectdata.getFields_field`): set by XML path, read back as a `fields/field` child
    in JSON and as `<xnat:fields><xnat:field name=…>` in XML, and listed by their path."""
    path = "xnat:subjectData/fields/field[name=site]/field"
    assert admin.put(f"{sandbox.url}/data/projects/P/subjects/s1", params={path: "leeds"}).ok
    url = f"{sandbox.url}/data/projects/P/subjects/s1"
    item = admin.get(url, params={"format": "json"}).json()["items"][0]
    fields = [c for c in item["children"] if c["field"] == "fields/field"]
    assert fields[0]["items"][0]["data_fields"] == {"name": "site", "field": "leeds"}
    document = ET.fromstring(admin.get(url, params={"format": "xml"}).content)
    field = document.find(f"{XNAT}fields/{XNAT}field")
    # the value follows the item's hidden-fields comment (test_hidden_fields): ElementTree
    # joins the new line before that comment to it
    assert field is not None and (field.get("name"), (field.text or "").strip()) == (
        "site",
        "leeds",
    )
    listed = _csv(
        admin.get(
            f"{sandbox.url}/data/projects/P/subjects",
            params={"format": "csv", "columns": f"label,{path}"},
        )
    )
    assert listed[0][path.lower()] == "leeds"


def test_a_pet_session_keeps_its_tracer(sandbox, admin) -> None:
    """`xnat:petSessionData` is a session type of XNAT's schema (`tracer/name` among its
    fields); `SubjAssessmentResource.handlePut` creates it like any other."""
    session_id = _session(
        admin, sandbox.url, "pet", "xnat:petSessionData", **{"tracer_name": "FDG"}
    )
    document = ET.fromstring(
        admin.get(f"{sandbox.url}/data/experiments/{session_id}", params={"format": "xml"}).content
    )
    assert document.tag == f"{XNAT}PETSession"
    tracer = document.find(f"{XNAT}tracer")  # the tracer's name is an attribute in xnat.xsd
    assert tracer is not None and tracer.get("name") == "FDG"


def test_head_answers_as_get_without_a_body(sandbox, admin) -> None:
    """Restlet's `Resource.handleHead` answers HEAD as GET with no entity: 200 for an object
    that exists, 404 for one that does not (pyxnat's `exists()` may use either)."""
    session_id = _session(admin, sandbox.url, "mr", "xnat:mrSessionData")
    found = admin.head(f"{sandbox.url}/data/experiments/{session_id}")
    assert (found.status_code, found.content) == (200, b"")
    missing = admin.head(f"{sandbox.url}/data/experiments/XNAT_E99999")
    assert missing.status_code == 404


def test_the_version_is_read_from_build_info(sandbox, admin) -> None:
    """XNAT 1.8 and later have no `/data/version` (404); clients read `SiteConfigApi`'s
    `/xapi/siteConfig/buildInfo` (`XnatAppInfo.getSystemProperties`)."""
    assert admin.get(f"{sandbox.url}/data/version").status_code == 404
    build = admin.get(f"{sandbox.url}/xapi/siteConfig/buildInfo").json()
    assert build["version"].startswith("1.9")
    assert {"buildNumber", "buildDate", "commit"} <= set(build)


def test_an_assessor_read_back_as_xml_can_be_sent_back(sandbox, admin) -> None:
    """`ExptAssessmentResource.handlePut` reads the document it serves
    (`ItemXMLRepresentation`): GET `?format=xml` then PUT of the same bytes updates the one
    assessor (200, same ID)."""
    session_id = _session(admin, sandbox.url, "ct", "xnat:ctSessionData")
    url = f"{sandbox.url}/data/experiments/{session_id}/assessors/seg"
    made = admin.put(url, data=roi_collection_xml(session_id, "XNAT_S00001", "seg"))
    assert made.status_code == 201
    back = admin.get(url, params={"format": "xml"})
    again = admin.put(url, data=back.content)
    assert (again.status_code, again.text) == (200, made.text)
    qc = admin.put(
        f"{sandbox.url}/data/experiments/{session_id}/assessors/qc",
        params={"xsiType": "xnat:qcAssessmentData"},
    )
    qc_back = admin.get(
        f"{sandbox.url}/data/experiments/{session_id}/assessors/qc", params={"format": "xml"}
    )
    resent = admin.put(
        f"{sandbox.url}/data/experiments/{session_id}/assessors/qc", data=qc_back.content
    )
    assert (resent.status_code, resent.text) == (200, qc.text)


def test_the_prearchive_is_listed_and_empty(sandbox, admin) -> None:
    """`PrearcSessionListResource` (`/data/prearchive/projects[/P]`): this XNAT archives
    uploads directly, so the listing is there and empty."""
    for path in ("/data/prearchive/projects", "/data/prearchive/projects/P"):
        listed = admin.get(f"{sandbox.url}{path}", params={"format": "json"})
        assert listed.status_code == 200
        assert listed.json()["ResultSet"]["Result"] == []


SESSION_DOCUMENT = (
    '<xnat:MRSession xmlns:xnat="http://nrg.wustl.edu/xnat" label="s9_MR" project="P">'
    "<xnat:date>2014-12-09</xnat:date><xnat:acquisition_site>Site A</xnat:acquisition_site>"
    "<xnat:fieldStrength>3.0</xnat:fieldStrength></xnat:MRSession>"
)


def test_a_session_document_sent_to_its_url_creates_the_session(sandbox, admin) -> None:
    """`SubjAssessmentResource.handlePut` reads a body as the item: the subject comes from the
    URL (created when missing), a missing ID is generated, the document is validated; a
    document of another project is 409, an element the schema lacks 422."""
    url = f"{sandbox.url}/data/projects/P/subjects/s9/experiments/s9_MR"
    made = admin.put(url, data=SESSION_DOCUMENT, headers={"Content-Type": "text/xml"})
    assert made.status_code == 201, made.text
    document = ET.fromstring(admin.get(url, params={"format": "xml"}).content)
    assert document.get("ID") == made.text
    assert document.findtext(f"{XNAT}acquisition_site") == "Site A"
    assert document.findtext(f"{XNAT}subject_ID") == "XNAT_S00001"
    other = admin.put(
        f"{sandbox.url}/data/projects/P/subjects/s9/experiments/x",
        data=SESSION_DOCUMENT.replace('project="P"', 'project="Q"'),
    )
    assert other.status_code == 409
    unknown = admin.put(
        f"{sandbox.url}/data/projects/P/subjects/s9/experiments/y",
        data=SESSION_DOCUMENT.replace("<xnat:date>", "<xnat:nope>1</xnat:nope><xnat:date>"),
    )
    assert unknown.status_code == 422


def test_a_column_of_a_sessions_children_joins_them(sandbox, admin) -> None:
    """`QueryOrganizer` joins the items a column names (`xnat:mrsessiondata/scans/scan/type`,
    any letter case, makes MR sessions the root): one row per session and child, a session
    without any once with the column empty (pyxnat's `inspect.scan_values`)."""
    first = _session(admin, sandbox.url, "mr1", "xnat:mrSessionData")
    second = _session(admin, sandbox.url, "mr2", "xnat:mrSessionData")
    _session(admin, sandbox.url, "ct1", "xnat:ctSessionData")
    for scan, kind in (("1", "anat"), ("2", "func")):
        assert admin.put(
            f"{sandbox.url}/data/experiments/{first}/scans/{scan}",
            params={"xsiType": "xnat:mrScanData", "type": kind},
        ).ok
    rows = _csv(
        admin.get(
            f"{sandbox.url}/data/experiments",
            params={"format": "csv", "columns": "ID,xnat:mrsessiondata/scans/scan/type"},
        )
    )
    assert sorted((r["ID"], r["xnat:mrsessiondata/scans/scan/type"]) for r in rows) == [
        (first, "anat"),
        (first, "func"),
        (second, ""),
    ]
