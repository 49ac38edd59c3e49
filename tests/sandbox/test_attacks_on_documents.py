"""Documents and values that try to reach past the parser or the catalogue's queries: XML entity
attacks on the two ways an assessor document arrives, and SQL-shaped values wherever a request
names an object, filters a listing or logs in. Each is sent to a running sandbox; none may read
a file, open a connection, answer with another project's data, fail with a server error, or
change the catalogue.

XNAT reads assessor documents with `org.nrg.xft.schema.Wrappers.XMLWrapper.SAXReader` (from
`ExptAssessmentResource` and `CatalogApi.uploadXml`); the JDK's parser stops entity expansion at
its limit (64,000), and an entity that names a file or URL is never fetched here: the sandbox
refuses a document that uses such an entity as malformed (422 on the REST path, the catalog
service's "An error occurred processing the submitted XML: " on the XAPI path). An external DTD
or parameter entity that the document never uses is not fetched either: the document is read
without it. Internal entities that expand to a plain value are ordinary XML, not attacks.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.attack_helpers import (
    ATTACKER_SESSION,
    VICTIM,
    Stage,
    build_stage,
    files_on_disk,
    new_files_outside_archive,
    raw_request,
    victim_files_intact,
)
from tests.sandbox.xml_documents import roi_collection_xml
from xnat_plugin.sandbox.server import running_sandbox

SECRET = "TOP-SECRET-HOST-FILE"


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[Stage]:
    with running_sandbox(tmp_path / "xnat") as server:
        yield build_stage(server)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port that records whether anything connected to it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        sock.settimeout(0.5)
        yield sock


def _with_doctype(doctype: str, *, name: str = "liver-spleen-kidney", label: str = "a1") -> bytes:
    """An assessor document with `doctype` declared and its `name` and label replaced."""
    document = roi_collection_xml("XNAT_E00002", "XNAT_S00002", "a1", with_id="XNAT_E00090")
    head, _, rest = document.partition("?>")
    rest = rest.replace("liver-spleen-kidney", name, 1).replace('label="a1"', f'label="{label}"')
    return f"{head}?>\n{doctype}{rest}".encode()


def _entity_attacks(secret_file: Path, port: int) -> dict[str, bytes]:
    laughs = '<!ENTITY l0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 9)
    )
    return {
        "external entity reading a host file": _with_doctype(
            f'<!DOCTYPE r [<!ENTITY e SYSTEM "file://{secret_file}">]>', name="&e;"
        ),
        "external entity fetching a URL": _with_doctype(
            f'<!DOCTYPE r [<!ENTITY e SYSTEM "http://127.0.0.1:{port}/x">]>', name="&e;"
        ),
        "external parameter entity (out-of-band)": _with_doctype(
            f'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd"> %p;]>'
        ),
        "external DTD": _with_doctype(f'<!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/d.dtd">'),
        "billion laughs": _with_doctype(f"<!DOCTYPE r [{laughs}]>", label="&l8;"),
    }


ENTITY_ATTACKS = sorted(_entity_attacks(Path("/x"), 1))
# Declarations that are never used: read without them, so the document is stored.
IGNORED = {"external parameter entity (out-of-band)", "external DTD"}


def _catalogue_counts(stage: Stage) -> tuple[int, ...]:
    with sqlite3.connect(stage.server.data_dir / "sandbox.db") as conn:
        return tuple(
            int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in ("projects", "subjects", "experiments", "scans", "resources", "files")
        )


def _connected(listener: socket.socket) -> bool:
    try:
        connection, _ = listener.accept()
    except TimeoutError:
        return False
    connection.close()
    return True


@pytest.mark.parametrize("route", ["REST assessor PUT", "catalog service upload"])
@pytest.mark.parametrize("attack", ENTITY_ATTACKS)
def test_an_xml_entity_attack_is_refused_and_reads_or_fetches_nothing(
    stage: Stage, listener: socket.socket, tmp_path: Path, attack: str, route: str
) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    body = _entity_attacks(secret_file, listener.getsockname()[1])[attack]
    before, rows_before = files_on_disk(stage.outside), _catalogue_counts(stage)
    started = time.monotonic()
    if route == "REST assessor PUT":
        answer = stage.attacker.put(f"{stage.url}{ATTACKER_SESSION}/assessors/a1", data=body)
        refused = answer.status_code == 422
        assert not refused or answer.text.startswith("An error occurred parsing the XML:")
    else:
        answer = stage.attacker.put(
            f"{stage.url}/xapi/archive/upload/xml",
            data=body,
            headers={"Content-Type": "text/xml"},
        )
        refused = answer.status_code >= 400
        assert not refused or "An error occurred processing the submitted XML: " in answer.text
    assert refused == (attack not in IGNORED), (answer.status_code, answer.text)
    assert time.monotonic() - started < 10  # refused or read, never expanded
    assert SECRET not in answer.text
    assert not _connected(listener)
    if refused:
        assert _catalogue_counts(stage) == rows_before
    assert new_files_outside_archive(stage, before) == []
    stored = stage.admin.get(f"{stage.url}/data/experiments/XNAT_E00090", params={"format": "xml"})
    assert SECRET not in stored.text and "DOCTYPE" not in stored.text and "lol" not in stored.text


# Values shaped to break out of a quoted SQL value, where a request names an object or filters a
# listing. The catalogue binds every value (`?` parameters) and names only its own columns.
INJECTIONS = ["x' OR '1'='1", "x'; DROP TABLE files; --", '" OR ""="', "1 OR 1=1", "%' --"]
QUOTED = {
    "'": "%27",
    '"': "%22",
    " ": "%20",
    ";": "%3B",
    "%": "%25",
    "=": "%3D",
}


def _quoted(value: str) -> str:
    return "".join(QUOTED.get(c, c) for c in value)


@pytest.mark.parametrize("value", INJECTIONS)
def test_sql_shaped_values_find_nothing_of_another_project_and_change_nothing(
    stage: Stage, value: str
) -> None:
    rows_before = _catalogue_counts(stage)
    quoted = _quoted(value)
    probes = [
        ("GET", f"/data/projects/{quoted}"),
        ("GET", f"/data/experiments/{quoted}"),
        ("GET", f"/data/projects/{VICTIM}/experiments/{quoted}"),
        ("GET", f"/data/experiments?label={quoted}&format=json"),
        ("GET", f"/data/projects?ID={quoted}&format=json"),
        ("GET", f"/data/experiments?columns={quoted}&format=json"),
        ("GET", f"{ATTACKER_SESSION}/resources/{quoted}/files"),
        ("GET", f"{ATTACKER_SESSION}/scans/{quoted}/files?format=json"),
        ("DELETE", f"/data/experiments/{quoted}"),
        ("DELETE", f"/data/projects/{quoted}"),
        ("PUT", f"/data/projects/{VICTIM}/accessibility/{quoted}"),
    ]
    for method, path in probes:
        status, text = raw_request(stage, method, path)
        assert status < 500, (method, path, status, text)
        assert "v1_CT" not in text and "XNAT_E00001" not in text, (method, path, text)
    for login in (value, "admin' --", "mallory' OR '1'='1"):
        status, _ = raw_request(stage, "GET", "/data/projects", auth=(login, value))
        assert status == 401, login
    assert _catalogue_counts(stage) == rows_before
    assert victim_files_intact(stage)
