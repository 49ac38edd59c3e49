"""The client against a running sandbox: transfers are checked, assessors round-trip."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest

from xnat_plugin.assessors.qc_assessment import QcAssessment, ScanStatistics
from xnat_plugin.client import XnatClient, browse, connect, paths
from xnat_plugin.client import transfer as transfer_module
from xnat_plugin.client.assessor_store import create_assessor, read_assessor_xml
from xnat_plugin.client.browse import FileInfo
from xnat_plugin.client.objects import create_scan, create_session, ensure_project, ensure_subject
from xnat_plugin.client.transfer import download_resource, upload_folder
from xnat_plugin.errors import UserError


@pytest.fixture
def client(sandbox: Any) -> XnatClient:
    with connect(sandbox.url, sandbox.user, sandbox.password) as connected:
        yield connected


@pytest.fixture
def session_id(client: XnatClient) -> str:
    ensure_project(client, "P1")
    ensure_subject(client, "P1", "S1")
    found = create_session(client, "P1", "S1", "S1_CT1", fields={"site": "SITE_A"})
    create_scan(client, found, "1", scan_type="CT", modality="CT")
    return found


def make_folder(root: Path) -> dict[str, bytes]:
    contents = {
        "a.txt": b"alpha\n",
        "nested/b.bin": bytes(range(256)) * 50,
        "nested/deeper/c.json": b'{"c": 3}',
    }
    for relative, data in contents.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return contents


@pytest.mark.parametrize("as_zip", [True, False])
def test_upload_then_download_round_trips_every_byte(
    client: XnatClient, session_id: str, tmp_path: Path, as_zip: bool
) -> None:
    contents = make_folder(tmp_path / "up")
    owner = paths.scan(session_id, "1")
    remote = upload_folder(client, owner, "STUFF", tmp_path / "up", show_progress=False)
    assert {f.path: f.digest for f in remote} == {
        rel: hashlib.md5(data).hexdigest() for rel, data in contents.items()
    }
    download_resource(client, owner, "STUFF", tmp_path / "down", as_zip=as_zip, show_progress=False)
    for relative, data in contents.items():
        assert (tmp_path / "down" / relative).read_bytes() == data


def test_checksum_mismatch_resends_then_fails_with_one_line(
    client: XnatClient, session_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_folder(tmp_path / "up")
    sent: list[str] = []
    real_upload = transfer_module.upload_file

    def counting_upload(*args: Any) -> None:
        sent.append(args[3])
        real_upload(*args)

    def damaged_listing(*args: Any) -> list[FileInfo]:
        return [f.model_copy(update={"digest": "0" * 32}) for f in browse.list_files(*args)]

    monkeypatch.setattr(transfer_module, "upload_file", counting_upload)
    monkeypatch.setattr(transfer_module, "list_files", damaged_listing)
    with pytest.raises(UserError, match="failed its checksum"):
        upload_folder(
            client, paths.scan(session_id, "1"), "BAD", tmp_path / "up", show_progress=False
        )
    assert sorted(sent) == sorted(["a.txt", "nested/b.bin", "nested/deeper/c.json"] * 2)


def test_sessions_scans_and_fields_are_listed(client: XnatClient, session_id: str) -> None:
    (session,) = browse.list_sessions(client, "P1", with_fields=True)
    assert (session.id, session.label, session.xsi_type) == (
        session_id,
        "S1_CT1",
        "xnat:ctSessionData",
    )
    assert session.site == "SITE_A"
    assert session.subject_label == "S1"
    assert session.subject_id == ensure_subject(client, "P1", "S1")
    assert [s.id for s in browse.list_scans(client, session_id)] == ["1"]
    assert "P1" in [p.id for p in browse.list_projects(client)]


def test_assessor_xml_round_trips_and_replaces(client: XnatClient, session_id: str) -> None:
    qc = QcAssessment(
        label="S1_CT1_monai_eval_20260101000000",
        project="P1",
        session_id=session_id,
        scans=[ScanStatistics(scan_id="1", statistics={"dice_liver": 0.9})],
    )
    first_id = create_assessor(client, session_id, qc.to_xml())
    assert first_id
    with pytest.raises(UserError, match="already has an assessor"):
        create_assessor(client, session_id, qc.to_xml())
    updated = qc.model_copy(
        update={"scans": [ScanStatistics(scan_id="1", statistics={"dice_liver": 0.95})]}
    )
    create_assessor(client, session_id, updated.to_xml(), replace=True)
    (listed,) = browse.list_assessors(client, session_id)
    back = QcAssessment.from_xml(read_assessor_xml(client, session_id, listed.label))
    assert back.scans[0].statistics == {"dice_liver": 0.95}
    assert listed.xsi_type == "xnat:qcAssessmentData"


def test_wrong_password_is_refused_with_the_documented_message(sandbox: Any) -> None:
    with pytest.raises(UserError) as caught:
        connect(sandbox.url, "admin", "wrong-password")
    assert str(caught.value) == (
        f"XNAT at {sandbox.url} refused the credentials for user admin (401): "
        "check --user/--password or ~/.netrc"
    )


def test_missing_resource_download_is_a_user_error(
    client: XnatClient, session_id: str, tmp_path: Path
) -> None:
    with pytest.raises(UserError):
        download_resource(client, paths.scan(session_id, "1"), "NOPE", tmp_path)


def test_no_log_line_carries_the_password(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from xnat_plugin.sandbox.server import running_sandbox

    secret = "Sandbox-Secret-93"
    caplog.set_level(logging.DEBUG)
    with (
        running_sandbox(tmp_path / "xnat", user="owner", password=secret) as server,
        connect(server.url, "owner", secret) as client,
    ):
        ensure_project(client, "LOGS")
        browse.list_sessions(client, "LOGS")
        with pytest.raises(UserError):
            connect(server.url, "owner", secret + "-wrong")
    assert "connected to XNAT" in caplog.text
    assert secret not in caplog.text


def test_xnatpy_session_shares_the_login_and_sees_the_same_archive(
    client: XnatClient, session_id: str
) -> None:
    session = client.xnatpy()
    assert client.xnatpy() is session
    experiment = session.projects["P1"].experiments["S1_CT1"]
    assert experiment.id == session_id
    assert list(experiment.scans.keys()) == ["1"]
