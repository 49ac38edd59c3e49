"""What the attack tests share: a victim project with files, an attacker who is a member of his
own project only, requests sent with their paths exactly as written, and a record of every file
on disk so a test can say that nothing appeared outside the archive and nothing was lost."""

from __future__ import annotations

import base64
import hashlib
import http.client
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests

from xnat_plugin.sandbox.server import SandboxServer

VICTIM = "VICTIM"
ATTACKER = "MINE"
VICTIM_SESSION = f"/data/projects/{VICTIM}/subjects/v1/experiments/v1_CT"
ATTACKER_SESSION = f"/data/projects/{ATTACKER}/subjects/m1/experiments/m1_CT"
VICTIM_FILES = {f"{i}.dcm": hashlib.sha256(str(i).encode()).digest() * 64 for i in range(5)}


@dataclass(frozen=True)
class Stage:
    """A running sandbox with a victim project and an attacker's own project."""

    server: SandboxServer
    admin: requests.Session
    attacker: requests.Session
    outside: Path  # the folder around the sandbox's data dir, watched for stray files

    @property
    def url(self) -> str:
        return self.server.url


def session_for(server: SandboxServer, login: str, password: str) -> requests.Session:
    http = requests.Session()
    http.auth = (login, password)
    return http


def build_stage(server: SandboxServer) -> Stage:
    """VICTIM (admin's, a session with one scan of five files) and MINE (the attacker,
    `mallory`, is a member: he may write there and nowhere else)."""
    admin = session_for(server, server.user, server.password)
    base = server.url
    for project, subject, session in ((VICTIM, "v1", "v1_CT"), (ATTACKER, "m1", "m1_CT")):
        assert admin.put(f"{base}/data/projects/{project}").status_code == 201
        assert admin.put(f"{base}/data/projects/{project}/subjects/{subject}").status_code == 201
        made = admin.put(
            f"{base}/data/projects/{project}/subjects/{subject}/experiments/{session}",
            params={"xsiType": "xnat:ctSessionData"},
        )
        assert made.status_code == 201
    scan = f"{base}{VICTIM_SESSION}/scans/1"
    assert admin.put(scan, params={"xsiType": "xnat:ctScanData"}).status_code == 201
    for name, data in VICTIM_FILES.items():
        assert admin.put(f"{scan}/resources/DICOM/files/{name}", data=data).status_code == 200
    made = admin.post(
        f"{base}/xapi/users",
        json={"username": "mallory", "password": "mallory-pw", "email": "m@example.org"},
    )
    assert made.status_code == 201
    assert admin.put(f"{base}/data/projects/{ATTACKER}/users/Members/mallory").ok
    return Stage(
        server=server,
        admin=admin,
        attacker=session_for(server, "mallory", "mallory-pw"),
        outside=server.data_dir.parent,
    )


def raw_request(
    stage: Stage,
    method: str,
    path: str,
    body: bytes = b"",
    auth: tuple[str, str] = ("mallory", "mallory-pw"),
) -> tuple[int, str]:
    """Send `path` exactly as given (requests would resolve `..` itself)."""
    url = urlparse(stage.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        conn.request(method, path, body=body, headers={"Authorization": f"Basic {token}"})
        answer = conn.getresponse()
        return answer.status, answer.read().decode("utf-8", "replace")
    finally:
        conn.close()


def files_on_disk(root: Path) -> dict[str, str]:
    """Every regular file under `root` (relative path → MD5), except the catalogue's own."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("sandbox.db"):
            found[path.relative_to(root).as_posix()] = hashlib.md5(path.read_bytes()).hexdigest()
    return found


def victim_files_intact(stage: Stage) -> bool:
    """The victim's files are all on disk, as uploaded, and all catalogued."""
    folder = stage.server.data_dir / "archive" / VICTIM / "arc001" / "v1_CT" / "SCANS" / "1"
    on_disk = {p.name: p.read_bytes() for p in (folder / "DICOM").glob("*")}
    listed = stage.admin.get(f"{stage.url}{VICTIM_SESSION}/scans/1/resources/DICOM/files").json()
    names = sorted(r["Name"] for r in listed["ResultSet"]["Result"])
    return on_disk == VICTIM_FILES and names == sorted(VICTIM_FILES)


def new_files_outside_archive(stage: Stage, before: dict[str, str]) -> list[str]:
    """Files under the watched folder that are new or changed since `before`, other than in
    the archive folder of the attacker's own project and the sandbox's spool."""
    allowed = (
        f"{stage.server.data_dir.name}/archive/{ATTACKER}/",
        f"{stage.server.data_dir.name}/spool/",
    )
    after = files_on_disk(stage.outside)
    return [
        name
        for name, digest in after.items()
        if before.get(name) != digest and not name.startswith(allowed)
    ]
