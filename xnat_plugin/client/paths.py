"""Every XNAT REST path the client sends, in one place.

These are XNAT's own `/data` paths (the ones xnatpy and pyxnat use), so the client works the
same against a real XNAT and the sandbox. Each segment is percent-quoted here and nowhere else.
"""

from __future__ import annotations

from urllib.parse import quote


def _q(segment: str) -> str:
    return quote(str(segment), safe="")


AUTH_CHECK = "/data/auth"
PROJECTS = "/data/projects"


def project(project_id: str) -> str:
    return f"/data/projects/{_q(project_id)}"


def subjects(project_id: str) -> str:
    return f"{project(project_id)}/subjects"


def subject(project_id: str, subject_label: str) -> str:
    return f"{subjects(project_id)}/{_q(subject_label)}"


def project_experiments(project_id: str) -> str:
    return f"{project(project_id)}/experiments"


def project_experiment(project_id: str, subject_label: str, experiment_label: str) -> str:
    """Where a session is created: under its project and subject, addressed by label."""
    return f"{subject(project_id, subject_label)}/experiments/{_q(experiment_label)}"


def experiment(experiment_id: str) -> str:
    """A session or assessor by XNAT ID (`XNAT_E00001`), wherever it lives."""
    return f"/data/experiments/{_q(experiment_id)}"


def scans(session_id: str) -> str:
    return f"{experiment(session_id)}/scans"


def scan(session_id: str, scan_id: str) -> str:
    return f"{scans(session_id)}/{_q(scan_id)}"


def assessors(session_id: str) -> str:
    return f"{experiment(session_id)}/assessors"


def assessor(session_id: str, assessor_ref: str) -> str:
    """An assessor of a session by ID or label (XNAT accepts both here)."""
    return f"{assessors(session_id)}/{_q(assessor_ref)}"


def resources(owner: str) -> str:
    """Resources of any object path (`project(...)`, `scan(...)`, `assessor(...)`, …)."""
    return f"{owner}/resources"


def resource(owner: str, label: str) -> str:
    return f"{resources(owner)}/{_q(label)}"


def resource_files(owner: str, label: str) -> str:
    return f"{resource(owner, label)}/files"


def resource_file(owner: str, label: str, relative_path: str) -> str:
    """One file; sub-folders of the resource stay as `/` in the path."""
    return f"{resource_files(owner, label)}/{quote(relative_path, safe='/')}"


def normalize_uri(uri: str) -> str:
    """`/archive/experiments/E`, `/experiments/E`, `/REST/...` or `/data/...` → `/data/...`."""
    path = uri.strip()
    for prefix in ("/data/archive", "/REST/archive", "/data", "/REST", "/archive"):
        if path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix) :]
            break
    return "/data" + path
