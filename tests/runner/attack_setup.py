"""A small site to attack: projects with a seeded CT session and a model, users in roles, the
infer command installed, launches as any user, and the evidence an attack would leave
(marker files, the job's alias token in any file)."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.bundles import tiny_bundle
from xnat_plugin.admin import Xapi, install_commands
from xnat_plugin.admin.workflows import WorkflowInfo
from xnat_plugin.client import connect
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.sandbox.seed.seeding import seed_project

REPO = Path(__file__).resolve().parents[2]
INFER_COMMAND = REPO / "command_json" / "xnat-monai-infer-cpu.json"
INFER_WRAPPER = "monai-segment-session-cpu"
FINAL = ("Complete", "Failed", "Killed")


@dataclass
class Site:
    """The sandbox, the projects made so far and every alias token its jobs were given."""

    server: Any
    tmp_path: Path
    sessions: dict[str, str] = field(default_factory=dict)  # project → session ID
    secrets: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.url)

    def admin(self) -> tuple[str, str]:
        return self.server.user, self.server.password

    def project_with_session(self, project: str, model: str = "tiny") -> str:
        """A project with one seeded CT session (DICOM + a manual SEG) and a model; its ID."""
        with connect(self.url, *self.admin()) as client:
            (seeded,) = seed_project(
                client, project, 1, sites=1, seed=3, matrix=48, slices=16, show_progress=False
            )
            bundle = tiny_bundle(self.tmp_path / f"models-{project}", name=model)
            upload_folder(client, f"/data/projects/{project}", "MONAI_MODELS", bundle.parent)
        self.sessions[project] = seeded.session_id
        return seeded.session_id

    def user(self, login: str, project: str | None = None, role: str = "Collaborators") -> None:
        made = requests.post(
            f"{self.url}/xapi/users",
            json={"username": login, "password": f"{login}-pw", "email": f"{login}@example.org"},
            auth=self.admin(),
            timeout=30,
        )
        assert made.status_code == 201, made.text
        if project:
            added = requests.put(
                f"{self.url}/data/projects/{project}/users/{role}/{login}",
                auth=self.admin(),
                timeout=30,
            )
            assert added.status_code == 200, added.text

    def install(self, projects: list[str], command_file: Path = INFER_COMMAND) -> int:
        """Register one command file, enable its wrappers on `projects`; the command's id."""
        folder = self.tmp_path / f"commands-{command_file.stem}"
        folder.mkdir(exist_ok=True)
        (folder / command_file.name).write_text(command_file.read_text())
        with Xapi(self.url, *self.admin()) as xapi:
            install_commands(xapi, folder, projects)
        name = json.loads(command_file.read_text())[0]["name"]
        listed = requests.get(f"{self.url}/xapi/commands", auth=self.admin(), timeout=30).json()
        return max(int(c["id"]) for c in listed if c["name"] == name)

    def launch(
        self,
        login: str,
        project: str,
        command_id: int,
        wrapper: str,
        values: dict[str, str],
        root: str = "session",
    ) -> dict[str, Any]:
        """POST the launch as `login` (password `<login>-pw`, or the admin's); the report."""
        auth = self.admin() if login == self.server.user else (login, f"{login}-pw")
        answer = requests.post(
            f"{self.url}/xapi/projects/{project}/commands/{command_id}/wrappers/{wrapper}"
            f"/root/{root}/launch",
            json=values,
            auth=auth,
            timeout=60,
        )
        assert answer.status_code in (200, 500), answer.text
        return dict(answer.json())

    def wait(self, report: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
        """The container of a launch once it is final, or its workflow's status and details if it
        failed before a container was made."""
        assert report.get("status") == "success", report
        workflow = str(report.get("workflow-id") or "")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for row in requests.get(
                f"{self.url}/xapi/containers", auth=self.admin(), timeout=30
            ).json():
                if str(row.get("workflow-id")) == workflow and str(row["status"]).startswith(FINAL):
                    return dict(row)
            flow = requests.get(
                f"{self.url}/data/workflows/{workflow}", params={"format": "json"},
                auth=self.admin(), timeout=30,
            )  # fmt: skip
            if flow.status_code == 200:
                fields = WorkflowInfo.from_fields(flow.json()["items"][0]["data_fields"])
                if fields.status.startswith("Failed") and not fields.container_id:
                    return {"status": fields.status, "details": fields.details, "id": None}
            time.sleep(0.5)
        raise AssertionError(f"launch {report} did not end within {timeout} s")

    def log(self, container: dict[str, Any], which: str = "stderr") -> str:
        if not container.get("id"):
            return ""
        answer = requests.get(
            f"{self.url}/xapi/containers/{container['id']}/logs/{which}",
            auth=self.admin(),
            timeout=30,
        )
        return answer.text if answer.status_code == 200 else ""

    def assessors(self, project: str) -> list[str]:
        session = self.sessions[project]
        rows = requests.get(
            f"{self.url}/data/experiments/{session}/assessors",
            params={"format": "json"},
            auth=self.admin(),
            timeout=30,
        ).json()["ResultSet"]["Result"]
        return sorted(str(row["label"]) for row in rows)

    def set_session_label(self, project: str, label: str) -> None:
        """Store a label XNAT's own rule would refuse, as an older or imported catalogue may hold
        one (the REST routes refuse it; the attack is on what the runner does with it)."""
        with sqlite3.connect(Path(self.server.data_dir) / "sandbox.db") as db:
            db.execute(
                "UPDATE experiments SET label = ? WHERE id = ?", (label, self.sessions[project])
            )

    def files_holding_a_secret(self, *folders: Path) -> list[Path]:
        """Every file under `folders` that holds any alias token secret a job was given."""
        assert self.secrets, "no job was given a token: the attack never ran"
        found = []
        for folder in folders:
            for path in folder.rglob("*"):
                if path.is_file() and not path.is_symlink():
                    data = path.read_bytes()
                    if any(secret.encode() in data for secret in self.secrets):
                        found.append(path)
        return found
