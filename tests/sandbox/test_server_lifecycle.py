"""Restarting on a data dir, the archive layout, events, formats, and the CLI verbs."""

from __future__ import annotations

import concurrent.futures
import hashlib
from pathlib import Path

import pytest
import requests
import xnat

from xnat_plugin.cli import main
from xnat_plugin.errors import UserError
from xnat_plugin.sandbox import events
from xnat_plugin.sandbox.archive import archive_directory
from xnat_plugin.sandbox.server import SandboxServer, running_sandbox


def _seed_session(url: str, auth: tuple[str, str]) -> None:
    s = requests.Session()
    s.auth = auth
    assert s.put(f"{url}/data/projects/P").ok
    assert s.put(f"{url}/data/projects/P/subjects/s1").ok
    assert s.put(
        f"{url}/data/projects/P/subjects/s1/experiments/s1_CT",
        params={"xsiType": "xnat:ctSessionData"},
    ).ok
    scan = f"{url}/data/projects/P/subjects/s1/experiments/s1_CT/scans/1"
    assert s.put(scan, params={"xsiType": "xnat:ctScanData", "xnat:ctScanData/type": "CT"}).ok
    assert s.put(f"{scan}/resources/DICOM/files/1.dcm", data=b"slice-1").ok


def test_a_restarted_sandbox_keeps_everything(tmp_path: Path) -> None:
    with running_sandbox(tmp_path / "x", user="root", password="pw") as first:
        _seed_session(first.url, ("root", "pw"))
    with running_sandbox(tmp_path / "x", user="root", password="pw") as again:
        auth = ("root", "pw")
        rows = requests.get(f"{again.url}/data/experiments/XNAT_E00001/scans", auth=auth).json()
        assert rows["ResultSet"]["Result"][0]["type"] == "CT"
        file_uri = f"{again.url}/data/experiments/XNAT_E00001/scans/1/resources/DICOM/files/1.dcm"
        assert requests.get(file_uri, auth=auth).content == b"slice-1"
        # numbering continues where it stopped
        made = requests.put(f"{again.url}/data/projects/P/subjects/s2", auth=auth)
        assert made.text == "XNAT_S00002"


def test_archive_is_laid_out_like_xnat_and_archive_directory_finds_it(sandbox) -> None:
    _seed_session(sandbox.url, (sandbox.user, sandbox.password))
    root = sandbox.data_dir / "archive"
    assert (root / "P/arc001/s1_CT/SCANS/1/DICOM/1.dcm").read_bytes() == b"slice-1"
    assert archive_directory(sandbox.data_dir, "/data/projects/P") == root.resolve() / "P"
    session_dir = root.resolve() / "P/arc001/s1_CT"
    assert archive_directory(sandbox.data_dir, "/archive/experiments/XNAT_E00001") == session_dir
    assert (
        archive_directory(
            sandbox.data_dir, "/data/projects/P/subjects/s1/experiments/s1_CT/scans/1"
        )
        == session_dir / "SCANS/1"
    )
    assert (
        archive_directory(sandbox.data_dir, "/data/experiments/XNAT_E00001/scans/1/resources/DICOM")
        == session_dir / "SCANS/1/DICOM"
    )
    requests.put(
        f"{sandbox.url}/data/projects/P/resources/MONAI_MODELS/files/m/configs/metadata.json",
        data=b"{}",
        auth=(sandbox.user, sandbox.password),
    )
    models = archive_directory(sandbox.data_dir, "/data/projects/P/resources/MONAI_MODELS")
    assert (models / "m/configs/metadata.json").is_file()
    with pytest.raises(UserError, match="not found"):
        archive_directory(sandbox.data_dir, "/data/experiments/XNAT_E09999")


def test_creating_a_session_publishes_a_session_created_event(sandbox) -> None:
    seen: list[events.XnatEvent] = []
    events.subscribe(seen.append)
    try:
        _seed_session(sandbox.url, (sandbox.user, sandbox.password))
    finally:
        events.unsubscribe(seen.append)
    created = [e for e in seen if isinstance(e, events.SessionEvent)]
    assert len(created) == 1
    event = created[0]
    assert event.status == events.EventStatus.CREATED
    assert (event.project_id, event.session_id, event.xsi_type) == (
        "P",
        "XNAT_E00001",
        "xnat:ctSessionData",
    )
    assert event.archive_uri == "/archive/experiments/XNAT_E00001"


def test_listings_come_as_json_csv_and_xml(sandbox) -> None:
    _seed_session(sandbox.url, (sandbox.user, sandbox.password))
    auth = (sandbox.user, sandbox.password)
    uri = f"{sandbox.url}/data/projects/P/experiments"
    as_json = requests.get(uri, params={"format": "json"}, auth=auth).json()["ResultSet"]
    assert as_json["totalRecords"] == "1"
    assert as_json["Result"][0]["label"] == "s1_CT"
    as_csv = requests.get(uri, params={"format": "csv"}, auth=auth).text.splitlines()
    # ProjSubExptList.getDefaultFields: ID, project, date, xsiType, label, insert_date (+ URI)
    assert as_csv[0] == "ID,project,date,xsiType,label,insert_date,URI" and "s1_CT" in as_csv[1]
    as_xml = requests.get(uri, params={"format": "xml"}, auth=auth).text
    assert 'totalRecords="1"' in as_xml and "<cell>s1_CT</cell>" in as_xml
    item = requests.get(
        f"{sandbox.url}/data/experiments/XNAT_E00001", params={"format": "json"}, auth=auth
    ).json()["items"][0]
    assert item["meta"]["xsi:type"] == "xnat:ctSessionData"
    assert item["data_fields"]["subject_ID"] == "XNAT_S00001"


def test_xnatpy_reads_the_schemas_this_sandbox_serves(sandbox) -> None:
    with xnat.connect(sandbox.url, user=sandbox.user, password=sandbox.password) as session:
        assert session.xnat_version.startswith("1.9")
        assert "icr:roiCollectionData" in session.XNAT_CLASS_LOOKUP
        assert "xnat:qcAssessmentData" in session.XNAT_CLASS_LOOKUP
    auth = (sandbox.user, sandbox.password)
    names = requests.get(f"{sandbox.url}/data/search/elements", auth=auth).json()
    assert "icr:roiCollectionData" in [r["ELEMENT_NAME"] for r in names["ResultSet"]["Result"]]


def test_eight_clients_list_and_download_at_once_without_error(sandbox) -> None:
    auth = (sandbox.user, sandbox.password)
    _seed_session(sandbox.url, auth)
    base = f"{sandbox.url}/data/experiments/XNAT_E00001/scans/1/resources/DICOM/files"
    payloads = {f"{i}.bin": hashlib.sha256(str(i).encode()).digest() * 4096 for i in range(2, 18)}
    for name, data in payloads.items():
        assert requests.put(f"{base}/{name}", data=data, auth=auth).ok

    def client(worker: int) -> int:
        with xnat.connect(sandbox.url, user=sandbox.user, password=sandbox.password) as session:
            done = 0
            for round_ in range(3):
                listing = session.get_json(base)["ResultSet"]["Result"]
                assert len(listing) == len(payloads) + 1
                name = f"{2 + (worker + round_) % len(payloads)}.bin"
                assert session.get(f"{base}/{name}").content == payloads[name]
                done += 1
            return done

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(client, range(8)))
    assert results == [3] * 8


def test_cli_add_user_creates_a_user_that_can_log_in(tmp_path: Path) -> None:
    data_dir = tmp_path / "x"
    with running_sandbox(data_dir) as server:
        assert (
            main(
                [
                    "sandbox",
                    "add-user",
                    "--data-dir",
                    str(data_dir),
                    "--user",
                    "dana",
                    "--password",
                    "dana-pw",
                ]
            )
            == 0
        )
        who = requests.get(f"{server.url}/data/auth", auth=("dana", "dana-pw"))
        assert who.text == "User 'dana' is logged in"
        again = main(
            [
                "sandbox",
                "add-user",
                "--data-dir",
                str(data_dir),
                "--user",
                "dana",
                "--password",
                "x",
            ]
        )
        assert again == 2


def test_cli_serve_refuses_a_busy_port(sandbox: SandboxServer, tmp_path: Path) -> None:
    port = sandbox.url.rsplit(":", 1)[1]
    code = main(["sandbox", "serve", "--port", port, "--data-dir", str(tmp_path / "y")])
    assert code == 2


def test_cli_serve_runs_a_server_that_keeps_its_data_across_restarts(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "xnat_plugin.cli",
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "x"),
        "--user",
        "boss",
    ]
    env = {**os.environ, "XNAT_MONAI_SANDBOX_PASSWORD": "s3cret"}

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
        )
        for _ in range(300):
            try:
                requests.get(url, timeout=5)
                # the password is nowhere in what `ps` shows of the process
                assert b"s3cret" not in Path(f"/proc/{process.pid}/cmdline").read_bytes()
                return process
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        process.kill()
        raise AssertionError("sandbox serve did not start")

    server = start()
    try:
        build = requests.get(f"{url}/xapi/siteConfig/buildInfo", auth=("boss", "s3cret")).json()
        assert build["version"].startswith("1.9")
        assert requests.put(f"{url}/data/projects/KEEP", auth=("boss", "s3cret")).status_code == 201
    finally:
        server.terminate()
        server.wait(timeout=30)
    server = start()
    try:
        listing = requests.get(f"{url}/data/projects", auth=("boss", "s3cret")).json()
        assert [r["ID"] for r in listing["ResultSet"]["Result"]] == ["KEEP"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    stderr = server.stderr.read().decode() if server.stderr else ""
    assert "s3cret" not in stderr


def test_listings_filter_by_column_values_like_xnat(sandbox) -> None:
    auth = (sandbox.user, sandbox.password)
    _seed_session(sandbox.url, auth)
    requests.put(f"{sandbox.url}/data/projects/P/subjects/s2", auth=auth)
    requests.put(
        f"{sandbox.url}/data/projects/P/subjects/s2/experiments/s2_MR",
        params={"xsiType": "xnat:mrSessionData"},
        auth=auth,
    )
    uri = f"{sandbox.url}/data/projects/P/experiments"
    mr = requests.get(uri, params={"xsiType": "xnat:mrSessionData"}, auth=auth).json()
    assert [r["label"] for r in mr["ResultSet"]["Result"]] == ["s2_MR"]
    # a project's experiments (ProjSubExptList) carry no subject columns unless asked for
    wildcard = requests.get(
        uri, params={"label": "S1*", "columns": "label,subject_label"}, auth=auth
    ).json()
    assert [r["subject_label"] for r in wildcard["ResultSet"]["Result"]] == ["s1"]
    assert mr["ResultSet"]["Result"][0]["xsiType"] == "xnat:mrSessionData"


def test_a_port_left_with_lingering_connections_can_be_listened_on_again_at_once() -> None:
    """A server killed with connections open leaves them in TIME_WAIT; without SO_REUSEADDR a
    restart on the same port is refused for about a minute."""
    import socket

    from xnat_plugin.sandbox.server import bound_socket

    first = bound_socket(0)
    first.listen()
    port = first.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = first.accept()
    accepted.close()  # the server side closes first: its end lingers in TIME_WAIT
    first.close()
    client.close()
    with pytest.raises(OSError), socket.socket() as plain:  # what a plain bind meets now
        plain.bind(("127.0.0.1", port))
    again = bound_socket(port)
    again.listen()
    assert again.getsockname()[1] == port
    with pytest.raises(OSError):  # a port someone listens on is still refused
        bound_socket(port)
    again.close()


def test_cli_add_user_reads_the_password_from_a_file_or_standard_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never from the command line, which `ps` shows to every user of the machine."""
    import io

    data_dir = tmp_path / "x"
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("XNAT_MONAI_SANDBOX_PASSWORD", "not-for-new-users")
    with running_sandbox(data_dir) as server:
        base = ["sandbox", "add-user", "--data-dir", str(data_dir)]
        assert main([*base, "--user", "fay", "--password-file", str(secret_file)]) == 0
        monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\n"))
        assert main([*base, "--user", "gil", "--password-file", "-"]) == 0
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        assert main([*base, "--user", "hal"]) == 2  # no password given, no terminal to ask
        for login, password in (("fay", "from-a-file"), ("gil", "from-stdin")):
            who = requests.get(f"{server.url}/data/auth", auth=(login, password))
            assert who.text == f"User '{login}' is logged in"
        refused = requests.get(f"{server.url}/data/auth", auth=("hal", "not-for-new-users"))
        assert refused.status_code == 401
