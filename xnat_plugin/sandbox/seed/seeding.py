"""Filling an XNAT project with synthetic CT sessions, over REST only (works on a real XNAT).

Per session: subject `SUBJnnn`, `xnat:ctSessionData` `SUBJnnn_CT1` (site in field `site` and in
`acquisition_site`, the scanner's manufacturer and model), its CT scans with resource `DICOM`
(the axial series `2`; in a segmentation project every second session also a localizer and a
thin and a thick reconstruction, see `clinical_series`), and the manual reference on the axial
series: an `icr:roiCollectionData` assessor `SUBJnnn_CT1_manual_SEG` whose resource `SEG` holds
one DICOM SEG. What the sessions show (abdominal organs, or lung nodules) is the project's task
(`tasks`).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress

from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.client import paths
from xnat_plugin.client.assessor_store import create_assessor, upload_assessor_files
from xnat_plugin.client.connection import XnatClient
from xnat_plugin.client.objects import create_scan, create_session, ensure_project, ensure_subject
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.sandbox.seed.clinical_series import (
    PlannedSeries,
    WrittenSeries,
    planned_series,
    series_identity,
    write_series,
)
from xnat_plugin.sandbox.seed.ct_series import SeriesIdentity
from xnat_plugin.sandbox.seed.manual_seg import write_manual_seg
from xnat_plugin.sandbox.seed.phantom import Phantom
from xnat_plugin.sandbox.seed.sites import SITES, Site, site_for_session, site_named
from xnat_plugin.sandbox.seed.tasks import DEFAULT_TASK, seed_task

log = logging.getLogger(__name__)

REFERENCE_RESOURCE = "SEG"


@dataclass(frozen=True)
class SeededSession:
    subject_label: str
    subject_id: str
    session_label: str
    session_id: str
    site: str
    series_uid: str  # the axial series, the one the reference segments
    reference_label: str | None  # the manual SEG assessor's label, when one was made
    reference_id: str | None
    scan_id: str  # the axial series' scan
    scan_ids: tuple[str, ...]  # every scan of the session


def subject_label_for(index: int) -> str:
    return f"SUBJ{index:03d}"


def session_label_for(index: int) -> str:
    return f"{subject_label_for(index)}_CT1"


def subject_seed(seed: int, index: int) -> int:
    """Each subject's own seed: a project seed of S gives subjects S*1000+1, S*1000+2, …"""
    return seed * 1000 + index


def has_reconstructions(index: int) -> bool:
    """Every second session is a clinical exam: localizer and reconstructions beside the axial
    series (`clinical_series`)."""
    return index % 2 == 0


@dataclass(frozen=True)
class PlannedSession:
    """What session number `index` of a project is: its labels, site, phantom, its series and
    the axial series' DICOM identity. Every way of seeding a session starts here, so all make
    the same one."""

    site: Site
    subject_label: str
    session_label: str
    phantom: Phantom
    identity: SeriesIdentity  # the axial series, which the reference segments
    series: tuple[PlannedSeries, ...]
    fields: dict[str, str] = field(default_factory=dict)  # the task's session fields

    @property
    def axial(self) -> PlannedSeries:
        return next(s for s in self.series if s.kind == "axial")

    def write_series(self, folder: Path) -> list[WrittenSeries]:
        """Every series as DICOM under `folder/<scan ID>/`."""
        return write_series(self.phantom, self.identity, self.series, folder)

    @classmethod
    def of(
        cls,
        index: int,
        seed: int,
        site: Site | str,
        *,
        matrix: int | None = None,
        slices: int | None = None,
        task: str = DEFAULT_TASK,
        site_count: int = len(SITES),
    ) -> PlannedSession:
        """`site_count`: how many sites the project's sessions take in turn (what a task that
        balances its sessions across sites counts by)."""
        site = site_named(site) if isinstance(site, str) else site
        subject_label, session_label = subject_label_for(index), session_label_for(index)
        own_seed = subject_seed(seed, index)
        seeding = seed_task(task)
        phantom = seeding.make_phantom(own_seed, site, matrix=matrix, slices=slices)
        fields: dict[str, str] = {}
        if seeding.per_session is not None:
            phantom, fields = seeding.per_session(phantom, index, site_count)
        clinical = seeding.clinical_exams and has_reconstructions(index)
        plan = planned_series(phantom, clinical, site.localizer_name)
        axial = next(s for s in plan if s.kind == "axial")
        subject_identity = SeriesIdentity.for_subject(own_seed, subject_label, session_label)
        return cls(
            site=site,
            subject_label=subject_label,
            session_label=session_label,
            phantom=phantom,
            identity=series_identity(subject_identity, axial),
            series=plan,
            fields=fields,
        )


def seed_session(
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
    """Create session number `index` (1-based) of `project`; the project must exist."""
    planned = PlannedSession.of(
        index, seed, site, matrix=matrix, slices=slices, task=task, site_count=site_count
    )
    site, phantom, identity = planned.site, planned.phantom, planned.identity
    subject_label, session_label = planned.subject_label, planned.session_label
    subject_id = ensure_subject(client, project, subject_label)
    session_id = create_session(
        client,
        project,
        subject_label,
        session_label,
        date=identity.study_date,
        acquisition_site=site.name,
        manufacturer=site.manufacturer,
        scanner_model=site.model,
        fields={"site": site.name, **planned.fields},
    )
    reference_label = reference_id = None
    with tempfile.TemporaryDirectory(prefix="xnat-monai-seed-") as scratch:
        written = planned.write_series(Path(scratch) / "SCANS")
        for series in written:
            _create_scan(client, session_id, series)
        if with_reference:
            axial = next(w for w in written if w.series.kind == "axial")
            reference_label, reference_id = upload_manual_reference(
                client, project, subject_id, session_id, session_label,
                phantom, axial.files, identity, Path(scratch) / "SEG",
            )  # fmt: skip
    log.info("seeded %s (%s, %s) in %s", session_label, session_id, site.name, project)
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


def _create_scan(client: XnatClient, session_id: str, series: WrittenSeries) -> None:
    """The scan as XNAT's DICOM import makes it: ID the series number, type and description
    the series description, the frame count, and the files in resource `DICOM`."""
    create_scan(
        client,
        session_id,
        series.scan_id,
        scan_type=series.identity.series_description,
        series_description=series.identity.series_description,
        modality="CT",
        series_uid=series.identity.series_uid,
        frames=len(series.files),
    )
    upload_folder(
        client,
        paths.scan(session_id, series.scan_id),
        "DICOM",
        series.files[0].parent,
        show_progress=False,
        resource_params={"format": "DICOM", "content": "RAW"},
    )


def upload_manual_reference(
    client: XnatClient,
    project: str,
    subject_id: str,
    session_id: str,
    session_label: str,
    phantom: Phantom,
    ct_files: list[Path],
    identity: SeriesIdentity,
    seg_dir: Path,
) -> tuple[str, str]:
    """The manual reference of a session: a DICOM SEG (algorithm MANUAL) in an
    `icr:roiCollectionData` assessor's `SEG` resource. Returns its label and ID."""
    label = f"{session_label}_manual_SEG"
    seg = write_manual_seg(phantom, ct_files, seg_dir / f"{label}.dcm")
    roi = RoiCollection(
        label=label,
        project=project,
        session_id=session_id,
        subject_id=subject_id,
        uid=str(seg.SOPInstanceUID),
        series_uids=[identity.series_uid],
        name="manual",
        description="Manual reference segmentation: " + ", ".join(phantom.label_names.values()),
        date=identity.study_date,
        fields={"algorithm_type": "MANUAL"},
    )
    assessor_id = create_assessor(client, session_id, roi.to_xml(), replace=True)
    upload_assessor_files(
        client, session_id, assessor_id, REFERENCE_RESOURCE, seg_dir, show_progress=False
    )
    return label, assessor_id


def seed_project(
    client: XnatClient,
    project: str,
    sessions: int,
    *,
    sites: int = 3,
    seed: int = 0,
    with_reference: bool = True,
    matrix: int | None = None,
    slices: int | None = None,
    show_progress: bool = True,
    task: str = DEFAULT_TASK,
) -> list[SeededSession]:
    """Create the project if missing and `sessions` sessions spread over `sites` sites."""
    ensure_project(client, project, description=seed_task(task).project_description)
    seeded = []
    with Progress(disable=not show_progress, transient=True) as progress:
        bar = progress.add_task(f"seeding {project}", total=sessions)
        for index in range(1, sessions + 1):
            seeded.append(
                seed_session(
                    client,
                    project,
                    index,
                    seed,
                    site_for_session(index, sites),
                    with_reference,
                    matrix=matrix,
                    slices=slices,
                    task=task,
                    site_count=sites,
                )
            )
            progress.advance(bar)
    return seeded
