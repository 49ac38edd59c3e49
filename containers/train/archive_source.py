"""Finding training pairs in a project archive folder read without XNAT (XNAT's layout).

`<project>/arc001/<session>/SCANS/<scan>/DICOM/…` holds the images and
`<project>/arc001/<session>/ASSESSORS/<folder>/SEG/…` the segmentations. Without XNAT there is
no catalog to say which assessor a folder holds, so the folder name is taken as the assessor's
label: Container Service's layout (`ASSESSORS/<label>/`). Files that arrived over REST sit in
`ASSESSORS/<assessor ID>/`: with XNAT at hand (`XNAT_HOST`), `xnat_source` reads the same mounted
archive through the catalog and finds both. The scan is the one the scan rule picks, its JSON
built from the DICOM headers as XNAT's import fills it in. The archive carries no subject, so
the subject is the series' PatientID (one subject = one patient).
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
from containers.train.scan_choice import (
    choose_scan,
    reference_on_other_series,
    scan_json_from_dicom,
)
from xnat_plugin.commands.scan_rule import IMAGE_RESOURCE, ScanRule
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)


def session_folders(project_dir: Path) -> list[Path]:
    """Session folders directly in the folder given (what Container Service mounts: the
    project's `arc001`) or in its `arc*/` folders (the project folder itself)."""
    if not project_dir.is_dir():
        raise UserError(f"--project-dir {project_dir} is not a folder: mount the project archive")

    def is_session(folder: Path) -> bool:
        return folder.is_dir() and (folder / "SCANS").is_dir()

    children = sorted(p for p in project_dir.iterdir() if p.is_dir())
    roots = [project_dir, *(p for p in children if p.name.startswith("arc") and not is_session(p))]
    return sorted(s for root in roots for s in root.iterdir() if is_session(s))


def candidates_from_archive(
    project_dir: Path, project: str, matcher: re.Pattern[str], rule: ScanRule
) -> tuple[list[ReferenceCandidate], list[SkippedSession]]:
    found: list[ReferenceCandidate] = []
    skipped: list[SkippedSession] = []
    for session in session_folders(Path(project_dir)):
        label = session.name
        references = sorted(
            a
            for a in (session / "ASSESSORS").glob("*")
            if a.is_dir() and is_reference_label(a.name, matcher) and (a / "SEG").is_dir()
        )
        if not references:
            skipped.append(SkippedSession(label, "no reference SEG assessor matches the pattern"))
            continue
        if len(references) > 1:
            log.warning(
                "%s has %d reference assessors; using %s",
                label,
                len(references),
                references[-1].name,
            )
        reference = references[-1]
        scans = [
            scan_json_from_dicom(folder.name, folder / IMAGE_RESOURCE)
            for folder in sorted((session / "SCANS").iterdir())
            if (folder / IMAGE_RESOURCE).is_dir()
        ]
        choice = choose_scan(scans, rule)
        if choice.scan is None:
            skipped.append(SkippedSession(label, choice.reason))
            continue
        scan_id = str(choice.scan["id"])
        mismatch = reference_on_other_series(
            reference.name, referenced_series_uid(reference / "SEG"), choice.scan
        )
        if mismatch:
            skipped.append(SkippedSession(label, mismatch))
            continue
        dicom_dir = session / "SCANS" / scan_id / IMAGE_RESOURCE
        found.append(
            ReferenceCandidate(
                session_label=label,
                session_uri=f"/data/projects/{project}/experiments/{label}",
                subject=_patient_id(dicom_dir) or label,
                site=_institution(dicom_dir),
                dicom_dir=dicom_dir,
                seg_dir=reference / "SEG",
                reference_label=reference.name,
            )
        )
    return found, skipped


def _first_header(dicom_dir: Path) -> pydicom.Dataset | None:
    for path in list_candidate_files(dicom_dir):
        try:
            return pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:
            continue
    return None


def _patient_id(dicom_dir: Path) -> str:
    header = _first_header(dicom_dir)
    return str(header.get("PatientID", "")) if header is not None else ""


def _institution(dicom_dir: Path) -> str:
    header = _first_header(dicom_dir)
    return str(header.get("InstitutionName", "")) if header is not None else ""
