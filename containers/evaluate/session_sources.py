"""Where the session's files come from: the mounted session archive (`--session-dir`), found
where XNAT's catalog says they are, or XNAT's REST.

A SEG resource sits in `ASSESSORS/<label>/` when Container Service uploaded it and in
`ASSESSORS/<assessor ID>/` when it came over REST: the catalog's answer
(`containers.common.resource_files`) is found in the mount whichever it is, and a resource the
mount does not hold is downloaded. The scan whose series UID the SEGs reference is found through
the scans' `UID` (or the header of their first DICOM file).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Protocol

import pydicom

from containers.common.resource_files import resource_folder
from containers.common.seg_reader import find_seg_file
from xnat_plugin.client import XnatClient, paths
from xnat_plugin.client.browse import AssessorInfo, list_files, list_scans
from xnat_plugin.client.connection import XnatNotFoundError
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


class SessionFiles:
    """The SEG of an assessor and the DICOM of a scan of one session: in `mount` (the session's
    archive folder) where the catalog puts them, else downloaded into `workdir`."""

    def __init__(
        self, client: XnatClient, session_id: str, workdir: Path, mount: Path | None = None
    ) -> None:
        if mount is not None and not mount.is_dir():
            raise UserError(f"--session-dir {mount} is not a folder: mount the session archive")
        self.client, self.session_id, self.workdir, self.mount = client, session_id, workdir, mount

    def seg_file(self, assessor: AssessorInfo) -> Path:
        owner = paths.assessor(self.session_id, assessor.id)
        try:
            folder = resource_folder(
                self.client,
                owner,
                SEG_RESOURCE,
                self.mount,
                self.workdir / "assessors" / assessor.id,
            )
        except XnatNotFoundError as exc:
            raise UserError(
                f"assessor {assessor.label} ({assessor.id}) has no {SEG_RESOURCE} resource: "
                "upload its DICOM SEG there or choose another assessor"
            ) from exc
        return find_seg_file(folder)

    def scan_dicom_dir(self, series_uid: str) -> tuple[str, Path]:
        scans = list_scans(self.client, self.session_id)
        owners = {s.id: paths.scan(self.session_id, s.id) for s in scans}
        for scan in scans:
            uid = str(self.client.item(owners[scan.id]).get("data_fields", {}).get("UID", ""))
            if uid == series_uid:
                return scan.id, self._scan_folder(scan.id, owners[scan.id])
        # XNATs that did not record the UID: look at one DICOM header per scan.
        for scan in scans:
            try:
                listing = list_files(self.client, owners[scan.id], DICOM_RESOURCE)
            except XnatNotFoundError:
                continue
            if not listing:
                continue
            folder = self._scan_folder(scan.id, owners[scan.id])
            if _series_uid_of_folder(folder) == series_uid:
                return scan.id, folder
        raise UserError(
            f"no scan of session {self.session_id} holds series {series_uid}, the series the "
            "segmentations reference: is the scan's DICOM resource present?"
        )

    def _scan_folder(self, scan_id: str, owner: str) -> Path:
        target = self.workdir / "scans" / scan_id
        if target.is_dir():
            return target
        return resource_folder(self.client, owner, DICOM_RESOURCE, self.mount, target)


class SegSource(Protocol):
    def seg_file(self, assessor: AssessorInfo) -> Path: ...


SEG_POLL_S = 2.0


def seg_file_when_uploaded(source: SegSource, assessor: AssessorInfo, wait_s: float) -> Path:
    """The assessor's SEG file, waiting up to `wait_s` seconds for it to be uploaded; the
    last reason it was not there when the time is up."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return source.seg_file(assessor)
        except (UserError, XnatNotFoundError) as exc:
            if time.monotonic() >= deadline:
                if wait_s > 0:
                    raise UserError(
                        f"the SEG of {assessor.label} was not uploaded within {wait_s:.0f} s "
                        f"({exc})"
                    ) from exc
                raise
            log.info("waiting for the SEG of %s to be uploaded", assessor.label)
            time.sleep(min(SEG_POLL_S, max(deadline - time.monotonic(), 0.0)))
