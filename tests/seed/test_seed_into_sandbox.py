"""Seeding a sandbox project over REST gives sessions whose DICOM and SEG read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
import pytest

from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.assessors.xsd import load_reference_schemas, validate
from xnat_plugin.cli import main
from xnat_plugin.client import browse, connect, paths
from xnat_plugin.client.assessor_store import read_assessor_xml
from xnat_plugin.client.transfer import download_resource
from xnat_plugin.sandbox.seed.phantom import make_phantom
from xnat_plugin.sandbox.seed.seeding import seed_project, subject_seed


def test_seeded_reference_assessors_validate_against_xnats_schemas(
    sandbox: Any, reference_dir: Path
) -> None:
    schemas = load_reference_schemas(reference_dir)
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        seed_project(client, "VALID", 2, seed=7, show_progress=False)
        for session in browse.list_sessions(client, "VALID"):
            for assessor in browse.list_assessors(client, session.id):
                xml = read_assessor_xml(client, session.id, assessor.id)
                assert validate(xml, schemas) == [], assessor.label


def test_seeding_three_sessions_gives_dicom_and_seg_that_read_back(
    sandbox: Any, tmp_path: Path
) -> None:
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        seeded = seed_project(client, "LIVER", 3, seed=7, show_progress=False)
        sessions = browse.list_sessions(client, "LIVER", with_fields=True)
        assert [s.label for s in sessions] == ["SUBJ001_CT1", "SUBJ002_CT1", "SUBJ003_CT1"]
        assert [s.site for s in sessions] == ["SITE_A", "SITE_B", "SITE_C"]
        assert {s.xsi_type for s in sessions} == {"xnat:ctSessionData"}
        assert sessions[1].manufacturer == "GE MEDICAL SYSTEMS"

        for number, (info, session) in enumerate(zip(seeded, sessions, strict=True), start=1):
            phantom = make_phantom(subject_seed(7, number), info.site)
            ct_dir = tmp_path / session.label / "ct"
            files = download_resource(
                client, paths.scan(session.id, info.scan_id), "DICOM", ct_dir, show_progress=False
            )
            datasets = sorted(
                (pydicom.dcmread(f) for f in files),
                key=lambda d: float(d.ImagePositionPatient[2]),
            )
            assert len(datasets) == phantom.shape[0]
            volume = np.stack(
                [
                    d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept)
                    for d in datasets
                ]
            )
            assert np.array_equal(volume, phantom.hu)

            assessors = browse.list_assessors(client, session.id)
            assert [(a.label, a.xsi_type) for a in assessors] == [
                (f"{session.label}_manual_SEG", "icr:roiCollectionData")
            ]
            seg_dir = tmp_path / session.label / "seg"
            (seg_file,) = download_resource(
                client,
                paths.assessor(session.id, assessors[0].id),
                "SEG",
                seg_dir,
                as_zip=False,
                show_progress=False,
            )
            seg = hd.seg.segread(seg_file)
            mask = seg.get_pixels_by_source_instance(
                source_sop_instance_uids=[d.SOPInstanceUID for d in datasets],
                combine_segments=True,
            )
            assert np.array_equal(mask, phantom.labels)

            xml = read_assessor_xml(client, session.id, assessors[0].id)
            roi = RoiCollection.from_xml(xml)
            assert roi.uid == seg.SOPInstanceUID
            assert roi.series_uids == [datasets[0].SeriesInstanceUID]
            assert roi.session_id == session.id


def test_seeding_again_keeps_one_reference_per_session(sandbox: Any) -> None:
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        seed_project(client, "AGAIN", 1, sites=1, show_progress=False)
        (seeded,) = seed_project(client, "AGAIN", 1, sites=1, show_progress=False)
        (session,) = browse.list_sessions(client, "AGAIN")
        assert len(browse.list_assessors(client, session.id)) == 1
        (dicom,) = browse.list_resources(client, paths.scan(session.id, seeded.scan_id))
        assert dicom.label == "DICOM" and dicom.file_count == 40


def test_seed_verb_creates_the_project(sandbox: Any, caplog: pytest.LogCaptureFixture) -> None:
    code = main(
        [
            "sandbox",
            "seed",
            "--xnat",
            sandbox.url,
            "--project",
            "CLI",
            "--sessions",
            "2",
            "--sites",
            "2",
            "--user",
            sandbox.user,
            "--password",
            sandbox.password,
        ]
    )
    assert code == 0
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        sessions = browse.list_sessions(client, "CLI", with_fields=True)
    assert [s.site for s in sessions] == ["SITE_A", "SITE_B"]


def test_seed_verb_with_a_wrong_password_fails_in_one_line(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["sandbox", "seed", "--xnat", sandbox.url, "--project", "P", "--sessions", "1"]
        + ["--user", "admin", "--password", "not-the-password"]
    )
    assert code == 2
    assert "not-the-password" not in capsys.readouterr().err
