"""A small project in a running sandbox: CT sessions with a DICOM scan, a manual SEG assessor
and an AI SEG assessor (the reference perturbed), stored over REST like a real XNAT holds them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from containers.common.dicom_series import read_series
from containers.common.seg_writer import SegAlgorithm, write_seg
from tests.evaluate.seg_pairs import LABELS, SHAPE, perturbed
from tests.imaging.dicom_factory import phantom_labels, phantom_volume, write_ct_series
from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.client import XnatClient, paths
from xnat_plugin.client.assessor_store import create_assessor, upload_assessor_files
from xnat_plugin.client.objects import create_scan, create_session, ensure_project, ensure_subject
from xnat_plugin.client.transfer import upload_folder

SITES = ("north", "south")


@dataclass(frozen=True)
class SeededSession:
    id: str
    label: str
    site: str
    ai_label: str
    reference_label: str


def _store_seg(
    client: XnatClient,
    project: str,
    session_id: str,
    subject_id: str,
    label: str,
    seg_path: Path,
    sop_uid: str,
    series_uid: str,
) -> None:
    document = RoiCollection(
        label=label,
        project=project,
        session_id=session_id,
        subject_id=subject_id,
        uid=sop_uid,
        series_uids=[series_uid],
        name=label,
    )
    create_assessor(client, session_id, document.to_xml())
    upload_assessor_files(client, session_id, label, "SEG", seg_path.parent, show_progress=False)


def seed_session(
    client: XnatClient,
    project: str,
    index: int,
    workdir: Path,
    *,
    model: str = "organs",
    models: tuple[str, ...] | None = None,
) -> SeededSession:
    ensure_project(client, project)
    subject = f"SUBJ{index:02d}"
    subject_id = ensure_subject(client, project, subject)
    label = f"{subject}_CT"
    site = SITES[index % len(SITES)]
    session_id = create_session(
        client, project, subject, label, date=dt.date(2026, 1, 1 + index), acquisition_site=site
    )
    dicom_dir = workdir / label / "DICOM"
    write_ct_series(dicom_dir, phantom_volume(SHAPE, index))
    series = read_series(dicom_dir)
    create_scan(client, session_id, "1", scan_type="CT", series_uid=series.series_instance_uid)
    upload_folder(client, paths.scan(session_id, "1"), "DICOM", dicom_dir, show_progress=False)

    reference = phantom_labels(SHAPE)
    manual = write_seg(
        workdir / label / "manual" / "seg.dcm",
        reference,
        series,
        LABELS,
        algorithm=SegAlgorithm("MANUAL"),
    )
    reference_label = f"{label}_manual_SEG"
    _store_seg(
        client,
        project,
        session_id,
        subject_id,
        reference_label,
        manual.path,
        manual.sop_instance_uid,
        series.series_instance_uid,
    )
    ai_label = ""
    for offset, name in enumerate(models or (model,)):
        ai = write_seg(
            workdir / label / name / "seg.dcm",
            perturbed(reference, index + offset),
            series,
            LABELS,
            algorithm=SegAlgorithm("AUTOMATIC", name, "1.0"),
        )
        ai_label = f"{label}_monai_{name}_2026010{offset + 1}120000"
        _store_seg(
            client,
            project,
            session_id,
            subject_id,
            ai_label,
            ai.path,
            ai.sop_instance_uid,
            series.series_instance_uid,
        )
    return SeededSession(session_id, label, site, ai_label, reference_label)
