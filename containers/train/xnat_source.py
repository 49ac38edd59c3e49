"""Finding training pairs over XNAT's REST API (when no project archive is mounted).

Each session's newest `icr:roiCollectionData` assessor whose label matches the reference
pattern is downloaded, then the scan whose DICOM series that SEG was drawn on.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pydicom

from containers.common.dicom_series import list_candidate_files
from containers.train.cases import (
    ReferenceCandidate,
    SkippedSession,
    is_reference_label,
    referenced_series_uid,
)
from xnat_plugin.client import paths
from xnat_plugin.client.browse import list_assessors, list_resources, list_scans, list_sessions
from xnat_plugin.client.connection import XnatClient
from xnat_plugin.client.transfer import download_resource

log = logging.getLogger(__name__)

ROI_COLLECTION = "icr:roiCollectionData"
SEG_RESOURCE = "SEG"
DICOM_RESOURCE = "DICOM"


def candidates_from_xnat(
    client: XnatClient, project: str, matcher: re.Pattern[str], scratch: Path
) -> tuple[list[ReferenceCandidate], list[SkippedSession]]:
    found: list[ReferenceCandidate] = []
    skipped: list[SkippedSession] = []
    sessions = list_sessions(client, project, with_fields=True)
    log.info("project %s has %d image sessions", project, len(sessions))
    for session in sessions:
        references = sorted(
            (
                a
                for a in list_assessors(client, session.id)
                if a.xsi_type == ROI_COLLECTION and is_reference_label(a.label, matcher)
            ),
            key=lambda a: (a.date, a.label),
        )
        if not references:
            skipped.append(
                SkippedSession(session.label, "no reference SEG assessor matches the pattern")
            )
            continue
        reference = references[-1]
        folder = scratch / session.label
        seg_dir = folder / "ASSESSORS" / reference.label / SEG_RESOURCE
        owner = paths.assessor(session.id, reference.id)
        if SEG_RESOURCE not in {r.label for r in list_resources(client, owner)}:
            skipped.append(SkippedSession(session.label, f"{reference.label} has no SEG resource"))
            continue
        download_resource(client, owner, SEG_RESOURCE, seg_dir, show_progress=False)
        series_uid = referenced_series_uid(seg_dir)
        scan_dir = _download_scan_of(client, session.id, series_uid, folder / "SCANS")
        if scan_dir is None:
            skipped.append(
                SkippedSession(session.label, "no scan with a DICOM resource holds the series")
            )
            continue
        found.append(
            ReferenceCandidate(
                session_label=session.label,
                session_uri=session.uri,
                subject=session.subject_label or session.subject_id or session.label,
                site=session.site,
                dicom_dir=scan_dir,
                seg_dir=seg_dir,
                reference_label=reference.label,
            )
        )
    return found, skipped


def _download_scan_of(
    client: XnatClient, session_id: str, series_uid: str, destination: Path
) -> Path | None:
    for scan in list_scans(client, session_id):
        owner = paths.scan(session_id, scan.id)
        if DICOM_RESOURCE not in {r.label for r in list_resources(client, owner)}:
            continue
        target = destination / scan.id / DICOM_RESOURCE
        download_resource(client, owner, DICOM_RESOURCE, target, show_progress=False)
        if not series_uid or _series_uid(target) == series_uid:
            return target
    return None


def _series_uid(folder: Path) -> str:
    for path in list_candidate_files(folder):
        try:
            return str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)
        except Exception:
            continue
    return ""
