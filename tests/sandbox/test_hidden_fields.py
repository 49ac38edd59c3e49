"""An object read as XML carries its nested items' row keys, as XNAT writes them.

`SecureResource.representItem` answers with an `ItemXMLRepresentation` whose `SAXWriter` has
`writeHiddenFields` on unless `concealHiddenFields=true`; `SAXWriter.writeChildField` opens each
nested item (a named complex type or a repeated element: a table of its own in XFT) with a
`<!--hidden_fields[...]-->` comment before its text, and the serializer indents
(`OutputKeys.INDENT`). pyxnat's `get_params()` relies on the result: every second text node
under `addParam` is a value.
"""

from __future__ import annotations

import pytest
import requests
from lxml import etree

from xnat_plugin.sandbox.server import SandboxServer

NS = {"xnat": "http://nrg.wustl.edu/xnat"}


@pytest.fixture
def scan_url(sandbox: SandboxServer) -> tuple[requests.Session, str]:
    session = requests.Session()
    session.auth = (sandbox.user, sandbox.password)
    assert session.put(f"{sandbox.url}/data/projects/P").ok
    made = session.put(
        f"{sandbox.url}/data/projects/P/subjects/s1/experiments/mr1",
        params={"xsiType": "xnat:mrSessionData"},
    )
    assert made.status_code == 201, made.text
    url = f"{sandbox.url}/data/projects/P/subjects/s1/experiments/mr1/scans/1"
    assert session.put(url, params={"xsiType": "xnat:mrScanData"}).ok
    for name, value in (("foo", "foostring"), ("bar", "1")):
        path = f"xnat:mrScanData/parameters/addParam[name={name}]/addField"
        assert session.put(url, params={path: value}).ok
    return session, url


def _document(session: requests.Session, url: str, **params: str) -> etree._Element:
    answer = session.get(url, params={"format": "xml", **params})
    assert answer.status_code == 200, answer.text
    return etree.fromstring(answer.content)


def test_each_nested_item_is_led_by_its_hidden_fields(scan_url) -> None:
    session, url = scan_url
    root = _document(session, url)
    params = root.xpath("//xnat:addParam", namespaces=NS)
    assert [p.get("name") for p in params] == ["foo", "bar"]
    for param in params:
        comments = [c.text for c in param if isinstance(c, etree._Comment)]
        assert len(comments) == 1 and comments[0].startswith("hidden_fields[")
        assert "xnat_addField_id=" in comments[0]
    # two text nodes per addParam (the indentation before the comment, then the value):
    # pyxnat's Scan.get_params() and get_param() read exactly these
    texts = root.xpath("//xnat:addParam/child::text()", namespaces=NS)
    assert texts[1::2] == ["foostring", "1"]
    assert root.xpath("//xnat:addParam[@name='bar']/child::text()", namespaces=NS)[-1] == "1"


def test_a_session_document_marks_its_scans(scan_url, sandbox: SandboxServer) -> None:
    session, _ = scan_url
    root = _document(session, f"{sandbox.url}/data/projects/P/subjects/s1/experiments/mr1")
    scan = root.find("xnat:scans/xnat:scan", namespaces=NS)
    assert scan is not None
    first = scan[0]
    assert isinstance(first, etree._Comment)
    assert "xnat_imageScanData_id=" in first.text
    # the root's own key is its ID attribute: it carries no comment of its own
    assert not any(isinstance(node, etree._Comment) for node in root)


def test_conceal_hidden_fields_leaves_them_out(scan_url) -> None:
    session, url = scan_url
    root = _document(session, url, concealHiddenFields="true")
    assert root.xpath("//comment()") == []
    assert [p.text for p in root.xpath("//xnat:addParam", namespaces=NS)] == ["foostring", "1"]
