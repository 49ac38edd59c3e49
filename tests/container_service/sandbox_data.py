"""Small real data for the container-service and admin tests: a project with CT sessions made
through XNAT's data REST paths, the tiny test command, and a logged-in admin connection."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

from xnat_plugin.admin import Xapi, install_commands

HERE = Path(__file__).resolve().parent
TINY_COMMAND = HERE / "tiny-command.json"
TINY_STEP = HERE / "tiny_step.py"
TINY_WRAPPER = "tiny-qc-session"
SPARE_WRAPPER = "tiny-qc-session-spare"
ASSESSOR_WRAPPER = "tiny-qc-assessor"
PROJECT_WRAPPER = "tiny-qc-project"


def tiny_command(version: str = "1.0") -> dict[str, Any]:
    """The tiny command with the absolute path of its script filled in."""
    text = TINY_COMMAND.read_text().replace("@TINY_STEP@", str(TINY_STEP))
    command = json.loads(text)
    command["version"] = version
    return command


def write_commands_dir(folder: Path, version: str = "1.0") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.json").write_text(json.dumps([tiny_command(version)]))
    return folder


def rest(server: Any, user: str | None = None, password: str | None = None) -> requests.Session:
    session = requests.Session()
    session.auth = (user or server.user, password or server.password)
    return session


def _put(http: requests.Session, url: str, **kwargs: Any) -> requests.Response:
    response = http.put(url, timeout=30, **kwargs)
    assert response.status_code in (200, 201), f"PUT {url}: {response.status_code} {response.text}"
    return response


def make_project(server: Any, project: str) -> None:
    with rest(server) as http:
        _put(http, f"{server.url}/data/projects/{project}")


def add_ct_session(server: Any, project: str, index: int) -> str:
    """A CT session `SUBJ<index>_CT1` with scan 1 and a DICOM resource of two small files;
    returns the session's XNAT ID."""
    subject = f"SUBJ{index:03d}"
    label = f"{subject}_CT1"
    base = f"{server.url}/data/projects/{project}/subjects/{subject}"
    with rest(server) as http:
        _put(http, base)
        response = _put(
            http, f"{base}/experiments/{label}", params={"xsiType": "xnat:ctSessionData"}
        )
        scan = f"{base}/experiments/{label}/scans/1"
        _put(http, scan, params={"xsiType": "xnat:ctScanData", "type": "CT"})
        _put(http, f"{scan}/resources/DICOM", params={"format": "DICOM"})
        for name in ("1.dcm", "2.dcm"):
            _put(http, f"{scan}/resources/DICOM/files/{name}", data=b"not really DICOM")
        found = http.get(f"{base}/experiments/{label}", params={"format": "json"}, timeout=30)
        found.raise_for_status()
    session_id = found.json()["items"][0]["data_fields"]["ID"]
    assert session_id, response.text
    return str(session_id)


def installed_admin(server: Any, tmp_path: Path, projects: list[str]) -> Xapi:
    xapi = Xapi(server.url, server.user, server.password)
    install_commands(xapi, write_commands_dir(tmp_path / "commands"), projects)
    return xapi


def wait_until(predicate: Any, timeout: float = 60.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
