"""Small synthetic project archives in XNAT's layout, written straight to disk (no server)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from containers.train.cases import TrainingCase
from xnat_plugin.sandbox.seed.ct_series import SeriesIdentity, write_ct_series
from xnat_plugin.sandbox.seed.manual_seg import write_manual_seg
from xnat_plugin.sandbox.seed.phantom import make_phantom
from xnat_plugin.sandbox.seed.seeding import session_label_for, subject_label_for, subject_seed
from xnat_plugin.sandbox.seed.sites import site_for_session


def write_project_archive(
    root: Path, sessions: int, *, seed: int = 0, with_reference: bool = True
) -> Path:
    """`root/arc001/<session>/SCANS/1/DICOM` and `…/ASSESSORS/<session>_manual_SEG/SEG`."""
    for index in range(1, sessions + 1):
        subject, session = subject_label_for(index), session_label_for(index)
        own_seed = subject_seed(seed, index)
        phantom = make_phantom(own_seed, site_for_session(index, 2))
        identity = SeriesIdentity.for_subject(own_seed, subject, session)
        folder = root / "arc001" / session
        ct_files = write_ct_series(phantom, folder / "SCANS" / "1" / "DICOM", identity)
        if with_reference:
            label = f"{session}_manual_SEG"
            seg_dir = folder / "ASSESSORS" / label / "SEG"
            seg_dir.mkdir(parents=True)
            write_manual_seg(phantom, ct_files, seg_dir / f"{label}.dcm")
    return root


def phantom_case(index: int, seed: int = 0) -> TrainingCase:
    """A training case straight from a phantom (no DICOM), for loop-level tests."""
    phantom = make_phantom(subject_seed(seed, index), site_for_session(index, 2))
    sz, sy, sx = phantom.spacing_mm
    # (z, y, x) with x right→left, y front→back: as (x, y, z) the axes run L, P, S.
    affine = np.diag([-sx, -sy, sz, 1.0])
    return TrainingCase(
        session_label=session_label_for(index),
        session_uri=f"/data/projects/P/experiments/{session_label_for(index)}",
        subject=subject_label_for(index),
        site=phantom.site.name,
        image=np.ascontiguousarray(phantom.hu.transpose(2, 1, 0), dtype=np.float32),
        label=np.ascontiguousarray(phantom.labels.transpose(2, 1, 0)),
        affine=affine,
        labels={"liver": 1, "spleen": 2, "kidney": 3},
        checksum=f"phantom-{index}",
    )
