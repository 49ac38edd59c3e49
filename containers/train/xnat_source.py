"""Finding training pairs through XNAT: its REST API and catalog, with or without a mount.

For each session: the newest `icr:roiCollectionData` assessor whose label matches the reference
pattern, and the scan the scan rule picks among the session's scans (their JSON as Container
Service builds it, `XnatObjectLoader`), the same scan infer segments. Their files are read in the
mounted project archive where XNAT's catalog says they are (Container Service puts assessor
files in `ASSESSORS/<label>/`, REST uploads in `ASSESSORS/<assessor ID>/`), or downloaded
when there is no mount or the mount lacks them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pydicom

from containers.common.dicom_series import list_candidate_files
from containers.common.resource_files import resource_folder
from containers.train.cases import (
    ReferenceCandidate,
    SkippedSession,
    is_reference_label,
    referenced_series_uid,
)
from containers.train.scan_choice import choose_scan, reference_on_other_series
from xnat_plugin.client import paths
from xnat_plugin.client.browse import SessionInfo, list_assessors, list_resources, list_sessions
from xnat_plugin.client.connection import XnatClient
from xnat_plugin.commands.scan_rule import IMAGE_RESOURCE, ScanRule

if TYPE_CHECKING:
    from xnat_plugin.runner.xnat_objects import XnatObjectLoader

log = logging.getLogger(__name__)

ROI_COLLECTION = "icr:roiCollectionData"
SEG_RESOURCE = "SEG"


def candidates_from_xnat(
    client: XnatClient,
    project: str,
    matcher: re.Pattern[str],
    scratch: Path,
    rule: ScanRule,
    project_dir: Path | None = None,
) -> tuple[list[ReferenceCandidate], list[SkippedSession]]:
    from xnat_plugin.runner.xnat_objects import XnatObjectLoader

    objects = XnatObjectLoader(client, with_files=False)
    found: list[ReferenceCandidate] = []
    skipped: list[SkippedSession] = []
    sessions = list_sessions(client, project, with_fields=True)
    log.info("project %s has %d image sessions", project, len(sessions))
    for session in sessions:
        candidate = _candidate(client, objects, session, matcher, scratch, rule, project_dir)
        if isinstance(candidate, SkippedSession):
            skipped.append(candidate)
        else:
            found.append(candidate)
    return found, skipped


def _candidate(
    client: XnatClient,
    objects: XnatObjectLoader,
    session: SessionInfo,
    matcher: re.Pattern[str],
    scratch: Path,
    rule: ScanRule,
    project_dir: Path | None,
) -> ReferenceCandidate | SkippedSession:
    references = sorted(
        (
            a
            for a in list_assessors(client, session.id)
            if a.xsi_type == ROI_COLLECTION and is_reference_label(a.label, matcher)
        ),
        key=lambda a: (a.date, a.label),
    )
    if not references:
        return SkippedSession(session.label, "no reference SEG assessor matches the pattern")
    reference = references[-1]
    owner = paths.assessor(session.id, reference.id)
    if SEG_RESOURCE not in {r.label for r in list_resources(client, owner)}:
        return SkippedSession(session.label, f"{reference.label} has no SEG resource")
    scans = objects.experiment(session.id).json.get("scans", [])
    choice = choose_scan(scans, rule)
    if choice.scan is None:
        return SkippedSession(session.label, choice.reason)
    scan_id = str(choice.scan["id"])
    folder = scratch / session.id
    seg_dir = resource_folder(
        client, owner, SEG_RESOURCE, project_dir, folder / "assessors" / reference.id
    )
    dicom_dir = resource_folder(
        client,
        paths.scan(session.id, scan_id),
        IMAGE_RESOURCE,
        project_dir,
        folder / "scans" / scan_id,
    )
    scan = {**choice.scan, "uid": choice.scan.get("uid") or _series_uid(dicom_dir)}
    mismatch = reference_on_other_series(reference.label, referenced_series_uid(seg_dir), scan)
    if mismatch:
        return SkippedSession(session.label, mismatch)
    return ReferenceCandidate(
        session_label=session.label,
        session_uri=session.uri,
        subject=session.subject_label or session.subject_id or session.label,
        site=session.site,
        dicom_dir=dicom_dir,
        seg_dir=seg_dir,
        reference_label=reference.label,
    )


def _series_uid(folder: Path) -> str:
    for path in list_candidate_files(folder):
        try:
            return str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)
        except Exception:
            continue
    return ""
