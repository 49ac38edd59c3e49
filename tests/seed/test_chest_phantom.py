"""The detection task's seeded chest CT: nodules of 4-30 mm in the lungs, visible by their
partial volume, one reference component per nodule, and the same subject for the same seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from containers.common.dicom_series import read_series
from containers.common.lesions import ScanFrame, lesions_from_label_map
from containers.common.metrics.detection import connected_components
from containers.common.seg_reader import read_seg
from xnat_plugin.cli import main
from xnat_plugin.client import browse, connect
from xnat_plugin.sandbox.seed.chest_phantom import (
    LUNG_HU,
    MAX_DIAMETER_MM,
    MIN_DIAMETER_MM,
    make_chest_phantom,
)
from xnat_plugin.sandbox.seed.ct_series import write_ct_series
from xnat_plugin.sandbox.seed.manual_seg import write_manual_seg

SEEDS = range(20)


def _index_of(phantom, centre_mm) -> np.ndarray:
    """(slice, row, column) of a patient-mm point on the phantom's grid."""
    z0, y0, x0 = phantom.origin_mm[2], phantom.origin_mm[1], phantom.origin_mm[0]
    sz, sy, sx = phantom.spacing_mm
    x, y, z = centre_mm
    return np.array([(z - z0) / sz, (y - y0) / sy, (x - x0) / sx])


def test_the_same_seed_gives_the_same_chest_bit_for_bit():
    first, again = make_chest_phantom(3, "SITE_B"), make_chest_phantom(3, "SITE_B")
    assert np.array_equal(first.hu, again.hu) and np.array_equal(first.labels, again.labels)
    assert first.nodules == again.nodules
    assert first.body_part == "CHEST" and first.label_names == {1: "nodule"}


def test_every_subject_has_0_to_5_nodules_of_4_to_30_mm_each_its_own_component():
    counts = []
    for seed in SEEDS:
        phantom = make_chest_phantom(seed, "SITE_A")
        ids, n = connected_components(phantom.labels > 0)
        assert n == len(phantom.nodules), seed
        for nodule in phantom.nodules:
            assert MIN_DIAMETER_MM <= nodule.diameter_mm <= MAX_DIAMETER_MM
            k, j, i = np.rint(_index_of(phantom, nodule.centre_mm)).astype(int)
            assert ids[k, j, i] > 0 or nodule.diameter_mm < 8, (seed, nodule)
        counts.append(n)
    assert min(counts) == 0 and max(counts) == 5


def test_solid_nodules_of_6_mm_and_more_stand_out_from_the_lung_by_hundreds_of_hu():
    # Partial volume: a 6 mm nodule on 3.6 x 3.6 x 4.5 mm voxels fills about half of one.
    for seed in SEEDS:
        phantom = make_chest_phantom(seed, "SITE_C")
        for nodule in phantom.nodules:
            if nodule.solid and nodule.diameter_mm >= 6:
                k, j, i = np.rint(_index_of(phantom, nodule.centre_mm)).astype(int)
                around = phantom.hu[k - 1 : k + 2, j - 1 : j + 2, i - 1 : i + 2]
                assert around.max() > LUNG_HU + 350, (seed, nodule)


def test_manual_seg_reads_back_to_one_lesion_per_nodule_near_its_size(tmp_path: Path):
    phantom = make_chest_phantom(2, "SITE_B")  # five nodules
    files = write_ct_series(phantom, tmp_path / "DICOM")
    write_manual_seg(phantom, files, tmp_path / "seg.dcm")
    series = read_series(tmp_path / "DICOM")
    reference = read_seg(tmp_path / "seg.dcm", series)
    assert reference.labels == {"nodule": 1} and reference.algorithm_types == {"MANUAL"}
    lesions = lesions_from_label_map(reference.array, reference.labels, ScanFrame.of(series))
    assert len(lesions) == len(phantom.nodules) == 5
    for nodule in phantom.nodules:
        nearest = min(
            lesions,
            key=lambda found: np.linalg.norm(np.subtract(found.centre_lps_mm, nodule.centre_mm)),
        )
        distance = np.linalg.norm(np.subtract(nearest.centre_lps_mm, nodule.centre_mm))
        assert distance <= max(series.spacing), nodule
        if nodule.diameter_mm >= 10:
            assert nearest.diameter_mm == pytest.approx(nodule.diameter_mm, rel=0.25)


def test_a_chest_without_nodules_gets_an_empty_nodule_segment(tmp_path: Path):
    phantom = make_chest_phantom(12, "SITE_A", matrix=48, slices=16)
    assert phantom.nodules == ()
    files = write_ct_series(phantom, tmp_path / "DICOM")
    write_manual_seg(phantom, files, tmp_path / "seg.dcm")
    reference = read_seg(tmp_path / "seg.dcm", read_series(tmp_path / "DICOM"))
    assert reference.labels == {"nodule": 1} and not reference.array.any()


def test_seed_verb_with_task_detection_makes_chest_sessions(sandbox: Any) -> None:
    code = main(
        ["sandbox", "seed", "--xnat", sandbox.url, "--project", "LUNG", "--sessions", "2"]
        + ["--task", "detection", "--matrix", "48", "--slices", "16"]
        + ["--user", sandbox.user, "--password", sandbox.password]
    )
    assert code == 0
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        sessions = browse.list_sessions(client, "LUNG", with_fields=True)
        assert [s.site for s in sessions] == ["SITE_A", "SITE_B"]
        scans = browse.list_scans(client, sessions[0].id)
        # 16 slices over SITE_A's 200 mm: 12.5 mm each.
        assert [(s.id, s.series_description) for s in scans] == [("2", "CHEST 12.5mm")]
        (reference,) = browse.list_assessors(client, sessions[0].id)
        assert reference.label == f"{sessions[0].label}_manual_SEG"
