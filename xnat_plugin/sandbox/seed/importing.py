"""A synthetic CT session arriving the way sessions reach a real site: the scanner's DICOM,
zipped, through XNAT's import service (`POST /data/services/import`, DICOM-zip handler).

XNAT archives the session with its scans (one per series, the series number its ID, resource
`DICOM`; the localizer and reconstructions of `clinical_series` included) and fires its
`SessionEvent` CREATED then; afterwards the site's field `site` is set and, as a person would
after segmenting the scan, the manual reference SEG assessor is added.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from pathlib import Path

from xnat_plugin.client.connection import XnatClient
from xnat_plugin.client.objects import create_session
from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.seed.seeding import (
    PlannedSession,
    SeededSession,
    upload_manual_reference,
)
from xnat_plugin.sandbox.seed.sites import SITES, Site
from xnat_plugin.sandbox.seed.tasks import DEFAULT_TASK

log = logging.getLogger(__name__)

IMPORT_SERVICE = "/data/services/import"


def zip_folder(folder: Path, target: Path) -> Path:
    """Every file under `folder` into the zip `target` (names relative to `folder`)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(folder).as_posix())
    return target


def upload_dicom_zip(
    client: XnatClient,
    project: str,
    zip_path: Path,
    *,
    subject: str | None = None,
    session: str | None = None,
    overwrite: str | None = None,
) -> str:
    """POST a zip of one study's DICOM to the import service; returns the archived session's
    URI as XNAT answers it (`/data/archive/projects/P/subjects/S/experiments/E`)."""
    params = {
        "import-handler": "DICOM-zip",
        "inbody": "true",
        "PROJECT_ID": project,
        "dest": f"/archive/projects/{project}",
    }
    if subject:
        params["SUBJECT_ID"] = subject
    if session:
        params["EXPT_LABEL"] = session
    if overwrite:
        params["overwrite"] = overwrite
    response = client.post(
        IMPORT_SERVICE, params, body=zip_path, headers={"Content-Type": "application/zip"}
    )
    uri = response.text.strip()
    if "/experiments/" not in uri:
        raise UserError(
            f"XNAT's import service at {client.url} answered {uri[:200]!r} instead of the "
            "archived session's URI: is the DICOM-zip import handler enabled?"
        )
    return uri


def _ids_from_uri(uri: str) -> tuple[str, str]:
    """(subject, session) as the import answer names them."""
    parts = uri.strip("/").split("/")
    return parts[parts.index("subjects") + 1], parts[parts.index("experiments") + 1]


def import_session(
    client: XnatClient,
    project: str,
    index: int,
    seed: int,
    site: Site | str,
    with_reference: bool = True,
    *,
    matrix: int | None = None,
    slices: int | None = None,
    task: str = DEFAULT_TASK,
    site_count: int = len(SITES),
) -> SeededSession:
    """Session number `index` of `project` (which must exist), through the import service;
    the same phantom, labels and reference as `seed_session` would make."""
    planned = PlannedSession.of(
        index, seed, site, matrix=matrix, slices=slices, task=task, site_count=site_count
    )
    site, phantom, identity = planned.site, planned.phantom, planned.identity
    subject_label, session_label = planned.subject_label, planned.session_label
    reference_label = reference_id = None
    with tempfile.TemporaryDirectory(prefix="xnat-monai-import-") as scratch:
        written = planned.write_series(Path(scratch) / "DICOM")
        ct_files = next(w.files for w in written if w.series.kind == "axial")
        zip_path = zip_folder(Path(scratch) / "DICOM", Path(scratch) / f"{session_label}.zip")
        uri = upload_dicom_zip(
            client, project, zip_path, subject=subject_label, session=session_label
        )
        subject_id, session_id = _ids_from_uri(uri)
        log.info("imported %s as %s", session_label, uri)
        create_session(
            client,
            project,
            subject_label,
            session_label,
            acquisition_site=site.name,
            fields={"site": site.name, **planned.fields},
        )
        if with_reference:
            reference_label, reference_id = upload_manual_reference(
                client, project, subject_id, session_id, session_label,
                phantom, ct_files, identity, Path(scratch) / "SEG",
            )  # fmt: skip
    return SeededSession(
        subject_label=subject_label,
        subject_id=subject_id,
        session_label=session_label,
        session_id=session_id,
        site=site.name,
        series_uid=identity.series_uid,
        reference_label=reference_label,
        reference_id=reference_id,
        scan_id=str(planned.axial.number),
        scan_ids=tuple(str(s.number) for s in planned.series),
    )
