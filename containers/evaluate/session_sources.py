"""Where the session's files come from: the mounted archive (`--session-dir`) or XNAT's REST.

Mounted layout (XNAT's archive, as the container service mounts it):
`<session-dir>/ASSESSORS/<assessor label>/SEG/<file>` and `<session-dir>/SCANS/<scan>/DICOM/`.
Without a mount, the SEG resources are downloaded, and the scan whose series UID the SEGs
reference is found through the scans' `UID` (or the header of their first DICOM file).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pydicom

from containers.common.seg_reader import find_seg_file
from xnat_plugin.client import XnatClient, paths
from xnat_plugin.client.browse import AssessorInfo, list_files, list_scans
from xnat_plugin.client.connection import XnatNotFoundError
from xnat_plugin.client.transfer import download_resource
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

SEG_RESOURCE = "SEG"
DICOM_RESOURCE = "DICOM"


def referenced_series_uid(seg_file: Path) -> str:
    """The series a SEG segments (its ReferencedSeriesSequence), checked to be exactly one."""
    header = pydicom.dcmread(seg_file, stop_before_pixels=True)
    uids = {str(item.SeriesInstanceUID) for item in header.get("ReferencedSeriesSequence", [])}
    if len(uids) != 1:
        raise UserError(
            f"{seg_file} references {len(uids)} series ({', '.join(sorted(uids)) or 'none'}); "
            "a SEG of exactly one scan is expected"
        )
    return uids.pop()


def _series_uid_of_folder(folder: Path) -> str:
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            return str(pydicom.dcmread(file, stop_before_pixels=True).SeriesInstanceUID)
        except Exception:  # not DICOM (e.g. a catalog XML): try the next file
            continue
    return ""


class MountedSession:
    """Files of a session archive mounted at `root`."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise UserError(f"--session-dir {root} is not a folder: mount the session archive")
        self.root = root

    def seg_file(self, assessor: AssessorInfo) -> Path:
        folder = self.root / "ASSESSORS" / assessor.label / SEG_RESOURCE
        if not folder.is_dir():
            raise UserError(
                f"{folder} is missing: assessor {assessor.label} has no SEG resource in the "
                "mounted session"
            )
        return find_seg_file(folder)

    def scan_dicom_dir(self, series_uid: str) -> tuple[str, Path]:
        scans = sorted(p for p in (self.root / "SCANS").glob("*") if p.is_dir())
        for scan in scans:
            folder = scan / DICOM_RESOURCE
            if folder.is_dir() and _series_uid_of_folder(folder) == series_uid:
                return scan.name, folder
        raise UserError(
            f"no scan in {self.root / 'SCANS'} holds series {series_uid}, the series the "
            "segmentations reference: is the scan's DICOM resource present?"
        )


class DownloadedSession:
    """Files of a session fetched over REST into `workdir`."""

    def __init__(self, client: XnatClient, session_id: str, workdir: Path) -> None:
        self.client, self.session_id, self.workdir = client, session_id, workdir

    def seg_file(self, assessor: AssessorInfo) -> Path:
        target = self.workdir / "assessors" / assessor.label
        owner = paths.assessor(self.session_id, assessor.id)
        download_resource(self.client, owner, SEG_RESOURCE, target, show_progress=False)
        return find_seg_file(target)

    def scan_dicom_dir(self, series_uid: str) -> tuple[str, Path]:
        scans = list_scans(self.client, self.session_id)
        owners = {s.id: paths.scan(self.session_id, s.id) for s in scans}
        for scan in scans:
            uid = str(self.client.item(owners[scan.id]).get("data_fields", {}).get("UID", ""))
            if uid == series_uid:
                return scan.id, self._download_scan(scan.id, owners[scan.id])
        # XNATs that did not record the UID: look at one DICOM header per scan.
        for scan in scans:
            try:
                listing = list_files(self.client, owners[scan.id], DICOM_RESOURCE)
            except XnatNotFoundError:
                continue
            if not listing:
                continue
            folder = self._download_scan(scan.id, owners[scan.id])
            if _series_uid_of_folder(folder) == series_uid:
                return scan.id, folder
        raise UserError(
            f"no scan of session {self.session_id} holds series {series_uid}, the series the "
            "segmentations reference"
        )

    def _download_scan(self, scan_id: str, owner: str) -> Path:
        target = self.workdir / "scans" / scan_id
        if not target.is_dir():
            download_resource(self.client, owner, DICOM_RESOURCE, target, show_progress=False)
        return target
