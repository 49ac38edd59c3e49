"""Creating the archive's objects over REST: projects, subjects, image sessions, scans.

Fields are sent the way XNAT's REST API takes them, as XML paths in the query string
(`xnat:ctSessionData/scanner/manufacturer=…`, `…/fields/field[name=site]/field=…`), so the same
calls work on a real XNAT and on the sandbox.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from xnat_plugin.client import paths
from xnat_plugin.client.connection import XnatClient, XnatNotFoundError

log = logging.getLogger(__name__)


def ensure_project(
    client: XnatClient, project: str, *, name: str | None = None, description: str = ""
) -> bool:
    """Create the project unless it exists; True when it was created."""
    if client.exists(paths.project(project)):
        return False
    params = {"name": name or project, "secondary_ID": project}
    if description:
        params["description"] = description
    client.put(paths.project(project), params)
    log.info("created project %s", project)
    return True


def ensure_subject(client: XnatClient, project: str, label: str) -> str:
    """The subject's XNAT ID, creating the subject in `project` if it is not there."""
    try:
        item = client.item(paths.subject(project, label))
        return str(item.get("data_fields", {}).get("ID", ""))
    except XnatNotFoundError:
        pass
    response = client.put(paths.subject(project, label))
    subject_id = response.text.strip()
    log.info("created subject %s (%s) in %s", label, subject_id, project)
    return subject_id or str(client.item(paths.subject(project, label))["data_fields"]["ID"])


def create_session(
    client: XnatClient,
    project: str,
    subject_label: str,
    label: str,
    *,
    xsi_type: str = "xnat:ctSessionData",
    date: dt.date | None = None,
    acquisition_site: str | None = None,
    manufacturer: str | None = None,
    scanner_model: str | None = None,
    fields: Mapping[str, str] | None = None,
) -> str:
    """Create (or update) image session `label` of the subject; returns its XNAT ID."""
    params: dict[str, str] = {"xsiType": xsi_type}
    values = {
        "date": date.isoformat() if date else None,
        "acquisition_site": acquisition_site,
        "scanner/manufacturer": manufacturer,
        "scanner/model": scanner_model,
    }
    for key, value in values.items():
        if value:
            params[f"{xsi_type}/{key}"] = value
    for name, value in (fields or {}).items():
        params[f"{xsi_type}/fields/field[name={name}]/field"] = value
    response = client.put(paths.project_experiment(project, subject_label, label), params)
    session_id = response.text.strip()
    log.info("stored session %s (%s) of %s/%s", label, session_id, project, subject_label)
    return session_id


def create_scan(
    client: XnatClient,
    session_id: str,
    scan_id: str,
    *,
    xsi_type: str = "xnat:ctScanData",
    scan_type: str = "",
    series_description: str = "",
    modality: str = "",
    series_uid: str = "",
    frames: int | None = None,
) -> None:
    """Create (or update) scan `scan_id` of the session."""
    values = {
        "type": scan_type,
        "series_description": series_description,
        "modality": modality,
        "UID": series_uid,
        "frames": str(frames) if frames is not None else "",
        "quality": "usable",
    }
    params = {"xsiType": xsi_type}
    params.update({f"{xsi_type}/{key}": value for key, value in values.items() if value})
    client.put(paths.scan(session_id, scan_id), params)
