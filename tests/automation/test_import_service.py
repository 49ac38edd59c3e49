"""XNAT's import service on the sandbox: a DICOM zip becomes an archived session with its
scans, the SessionEvent fires once with the scans already there, and garbage is refused."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
import requests

from xnat_plugin.client import browse, connect, paths
from xnat_plugin.client.objects import ensure_project
from xnat_plugin.client.transfer import download_resource
from xnat_plugin.sandbox import catalog, events
from xnat_plugin.sandbox.db import Database
from xnat_plugin.sandbox.seed.ct_series import SeriesIdentity, write_ct_series
from xnat_plugin.sandbox.seed.importing import import_session, zip_folder
from xnat_plugin.sandbox.seed.phantom import make_phantom

IMPORT = "/data/services/import"
SMALL = {"matrix": 32, "slices": 6}


def _series(folder: Path, subject: str, session: str, *, number: int = 1, seed: int = 3) -> Path:
    phantom = make_phantom(seed, "SITE_A", **SMALL)
    identity = SeriesIdentity.for_subject(seed, subject, session)
    identity = SeriesIdentity(**{**identity.__dict__, "series_number": number})
    write_ct_series(phantom, folder, identity)
    return folder


def _post(sandbox: Any, body: bytes, **query: str) -> requests.Response:
    return requests.post(
        f"{sandbox.url}{IMPORT}",
        params={"import-handler": "DICOM-zip", "inbody": "true", **query},
        data=body,
        headers={"Content-Type": "application/zip"},
        auth=(sandbox.user, sandbox.password),
        timeout=60,
    )


@pytest.fixture
def project(sandbox: Any) -> str:
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        ensure_project(client, "IMPORTS")
    return "IMPORTS"


@pytest.fixture
def session_events(sandbox: Any) -> Iterator[list[tuple[events.XnatEvent, int]]]:
    """Every SessionEvent published, with how many scans its session had at that moment."""
    seen: list[tuple[events.XnatEvent, int]] = []
    db = Database(sandbox.data_dir / "sandbox.db")

    def record(event: events.XnatEvent) -> None:
        if isinstance(event, events.SessionEvent):
            rows = db.query("SELECT id FROM scans WHERE experiment_id = ?", (event.object_id,))
            seen.append((event, len(rows)))

    events.subscribe(record)
    yield seen
    events.unsubscribe(record)


def test_a_dicom_zip_becomes_an_archived_session_with_one_scan_per_series(
    sandbox: Any, project: str, tmp_path: Path, session_events: Any
) -> None:
    study = tmp_path / "study"
    _series(study / "s1", "PAT01", "PAT01_CT1", number=1)
    _series(study / "s2", "PAT01", "PAT01_CT1", number=2)
    (study / "README.txt").write_text("not DICOM: the import skips it")
    answer = _post(sandbox, zip_folder(study, tmp_path / "s.zip").read_bytes(), PROJECT_ID=project)
    assert answer.status_code == 200, answer.text
    uri = answer.text.strip()
    assert uri.startswith(f"/data/archive/projects/{project}/subjects/")
    session_id = uri.rsplit("/", 1)[-1]

    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        sessions = browse.list_sessions(client, project)
        # No SUBJECT_ID / EXPT_LABEL: subject from PatientName, session from PatientID.
        assert [(s.label, s.xsi_type) for s in sessions] == [("PAT01", "xnat:ctSessionData")]
        assert client.item(paths.experiment(session_id))["data_fields"]["label"] == "PAT01"
        scans = client.result_rows(paths.scans(session_id))
        assert sorted(s["ID"] for s in scans) == ["1", "2"]
        assert {s["type"] for s in scans} == {"ABDOMEN 5mm"}
        assert {s["xsiType"] for s in scans} == {"xnat:ctScanData"}
        resources = client.result_rows(paths.resources(paths.scan(session_id, "2")))
        assert [(r["label"], r["format"]) for r in resources] == [("DICOM", "DICOM")]
        files = download_resource(
            client, paths.scan(session_id, "2"), "DICOM", tmp_path / "back", show_progress=False
        )
        assert len(files) == SMALL["slices"]
        assert {int(pydicom.dcmread(f).SeriesNumber) for f in files} == {2}

    layout = sandbox.data_dir / "archive" / project / "arc001" / "PAT01" / "SCANS"
    assert len(list((layout / "1" / "DICOM").glob("*.dcm"))) == SMALL["slices"]
    assert [(e.object_id, scans) for e, scans in session_events] == [(session_id, 2)]
    assert session_events[0][0].status == events.EventStatus.CREATED


def test_import_names_the_subject_and_session_from_the_request(
    sandbox: Any, project: str, tmp_path: Path
) -> None:
    study = _series(tmp_path / "study", "PAT02", "ignored")
    body = zip_folder(study, tmp_path / "s.zip").read_bytes()
    answer = _post(
        sandbox, body, dest=f"/archive/projects/{project}", SUBJECT_ID="S02", EXPT_LABEL="S02_CT1"
    )
    assert answer.status_code == 200, answer.text
    again = _post(sandbox, body, PROJECT_ID=project, SUBJECT_ID="S02", EXPT_LABEL="S02_CT1")
    assert again.status_code == 409
    appended = _post(
        sandbox,
        body,
        PROJECT_ID=project,
        SUBJECT_ID="S02",
        EXPT_LABEL="S02_CT1",
        overwrite="append",
    )
    assert appended.status_code == 200, appended.text
    assert appended.text.strip() == answer.text.strip()
    db = Database(sandbox.data_dir / "sandbox.db")
    subject = catalog.get_subject(db, project, "S02")
    assert subject is not None
    session = catalog.get_experiment(db, project, "S02_CT1")
    assert session is not None and session["subject_id"] == subject["id"]
    assert answer.text.strip().endswith(f"/subjects/{subject['id']}/experiments/{session['id']}")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"this is not a zip", "not a zip"),
        (b"", "no zip"),
        ("zip-of-text", "no DICOM"),
    ],
)
def test_import_refuses_what_is_not_a_dicom_zip_and_leaves_nothing(
    sandbox: Any, project: str, tmp_path: Path, body: Any, reason: str
) -> None:
    if body == "zip-of-text":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("notes.txt", "hello")
            archive.writestr("fake.dcm", b"\x00" * 300)
        body = buffer.getvalue()
    answer = _post(sandbox, body, PROJECT_ID=project, SUBJECT_ID="X", EXPT_LABEL="X_CT1")
    assert answer.status_code == 400
    assert reason in answer.text
    db = Database(sandbox.data_dir / "sandbox.db")
    assert db.query("SELECT id FROM experiments") == []
    assert db.query("SELECT id FROM subjects") == []
    assert not (sandbox.data_dir / "archive" / project / "arc001").exists()
    assert list((sandbox.data_dir / "spool").glob("**/*")) == []


def test_import_refuses_a_prearchive_destination_and_an_unknown_project(
    sandbox: Any, project: str, tmp_path: Path
) -> None:
    body = zip_folder(_series(tmp_path / "s", "P", "P"), tmp_path / "s.zip").read_bytes()
    assert _post(sandbox, body, dest="/prearchive/projects/IMPORTS").status_code == 400
    assert _post(sandbox, body, PROJECT_ID="NOPE").status_code == 404
    assert _post(sandbox, body).status_code == 400


def test_xnatpy_import_reaches_the_archived_session(
    sandbox: Any, project: str, tmp_path: Path
) -> None:
    zip_path = zip_folder(_series(tmp_path / "s", "PAT05", "PAT05"), tmp_path / "s.zip")
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        session = client.xnatpy()
        experiment = session.services.import_(
            zip_path,
            project=project,
            subject="S05",
            experiment="S05_CT1",
            import_handler="DICOM-zip",
            content_type="application/zip",
        )
        assert experiment.label == "S05_CT1"
        assert list(experiment.scans.keys()) == ["1"]


def test_import_session_seeds_a_session_with_its_manual_reference(
    sandbox: Any, project: str
) -> None:
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        seeded = import_session(client, project, 4, seed=1, site="SITE_B", **SMALL)
        assert seeded.session_label == "SUBJ004_CT1"
        sessions = browse.list_sessions(client, project, with_fields=True)
        assert [(s.label, s.site) for s in sessions] == [("SUBJ004_CT1", "SITE_B")]
        assessors = browse.list_assessors(client, seeded.session_id)
        assert [a.label for a in assessors] == ["SUBJ004_CT1_manual_SEG"]
        seg = client.result_rows(
            paths.resource_files(paths.assessor(seeded.session_id, assessors[0].id), "SEG")
        )
        assert len(seg) == 1


def test_overwrite_delete_replaces_the_scans_and_fires_no_second_created_event(
    sandbox: Any, project: str, tmp_path: Path, session_events: Any
) -> None:
    both = tmp_path / "both"
    _series(both / "s1", "PAT06", "PAT06", number=1)
    _series(both / "s2", "PAT06", "PAT06", number=2)
    only_three = _series(tmp_path / "three", "PAT06", "PAT06", number=3)
    first = _post(sandbox, zip_folder(both, tmp_path / "a.zip").read_bytes(), PROJECT_ID=project)
    assert first.status_code == 200, first.text
    again = _post(
        sandbox,
        zip_folder(only_three, tmp_path / "b.zip").read_bytes(),
        PROJECT_ID=project,
        overwrite="delete",
    )
    assert again.status_code == 200, again.text
    session_id = first.text.strip().rsplit("/", 1)[-1]
    db = Database(sandbox.data_dir / "sandbox.db")
    scans = db.query("SELECT id FROM scans WHERE experiment_id = ?", (session_id,))
    assert [r["id"] for r in scans] == ["3"]
    folder = sandbox.data_dir / "archive" / project / "arc001" / "PAT06" / "SCANS"
    assert sorted(p.name for p in folder.iterdir()) == ["3"]
    assert [e.object_id for e, _ in session_events] == [session_id]
