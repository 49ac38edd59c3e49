"""Detection evaluation of a session in a sandbox XNAT: a manual SEG reference with two lesions,
AI boxes as an RTSTRUCT roiCollection (scores in the ROI descriptions) or as a findings JSON;
the assessor and the result file it writes, and what it refuses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from containers.common.dicom_series import read_series
from containers.common.findings import findings_of_boxes, score_description, write_findings
from containers.common.lesions import ScanFrame, lesions_from_label_map
from containers.common.rtstruct_writer import (
    RoiContours,
    StructureSetIdentity,
    box_contours,
    write_rtstruct,
)
from containers.common.seg_writer import SegAlgorithm, write_seg
from containers.detection.session_mode import (
    DetectionSessionRequest,
    evaluate_session,
)
from containers.detection.session_result import read_result
from tests.imaging.dicom_factory import phantom_volume, write_ct_series
from xnat_plugin.assessors.qc_assessment import QcAssessment
from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.client import connect, paths
from xnat_plugin.client.assessor_store import create_assessor, upload_assessor_files
from xnat_plugin.client.objects import create_scan, create_session, ensure_project, ensure_subject
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.errors import UserError

SHAPE = (40, 32, 12)
PROJECT = "DET"


@pytest.fixture
def client(sandbox):
    with connect(sandbox.url, sandbox.user, sandbox.password) as connection:
        yield connection


def _store(client, session_id, subject_id, label, kind, file: Path, sop_uid, series_uid, resource):
    document = RoiCollection(
        label=label,
        project=PROJECT,
        session_id=session_id,
        subject_id=subject_id,
        uid=sop_uid,
        collection_type=kind,
        series_uids=[series_uid],
        name=label,
    )
    create_assessor(client, session_id, document.to_xml())
    upload_assessor_files(client, session_id, label, resource, file.parent, show_progress=False)


def _seed(client, work: Path, index: int = 1, site: str = "north"):
    """A session whose reference has two lesions; the AI's RTSTRUCT finds the first (score
    0.8) and marks a false positive (0.6) and a low-scoring false positive (0.2)."""
    ensure_project(client, PROJECT)
    subject = f"S{index:02d}"
    subject_id = ensure_subject(client, PROJECT, subject)
    session_id = create_session(
        client, PROJECT, subject, f"{subject}_CT", date=dt.date(2026, 1, 2), acquisition_site=site
    )
    dicom = work / "DICOM"
    write_ct_series(dicom, phantom_volume(SHAPE, index))
    series = read_series(dicom)
    create_scan(client, session_id, "2", scan_type="CT", series_uid=series.series_instance_uid)
    upload_folder(client, paths.scan(session_id, "2"), "DICOM", dicom, show_progress=False)

    mask = np.zeros(SHAPE, np.uint8)
    mask[3:7, 4:9, 2:5] = 1
    mask[20:24, 20:24, 7:10] = 1
    manual = write_seg(
        work / "manual" / "seg.dcm", mask, series, {"nodule": 1}, algorithm=SegAlgorithm("MANUAL")
    )
    uid = series.series_instance_uid
    _store(client, session_id, subject_id, f"{subject}_CT_manual_SEG", "SEG", manual.path,
           manual.sop_instance_uid, uid, "SEG")  # fmt: skip

    frame = ScanFrame.of(series)
    lesions = lesions_from_label_map(mask, {"nodule": 1}, frame)
    boxes = [np.array(lesions[0].box_mm), frame.voxel_box_mm((30, 2, 1), (34, 6, 3)),
             frame.voxel_box_mm((30, 20, 5), (33, 23, 7))]  # fmt: skip
    scores = [0.8, 0.6, 0.2]
    rois = [
        RoiContours(f"nodule {n}", box_contours(frame, box), description=score_description(s))
        for n, (box, s) in enumerate(zip(boxes, scores, strict=True), start=1)
    ]
    identity = StructureSetIdentity(
        sop_instance_uid=generate_uid(), series_instance_uid=generate_uid(), label="AI nodules"
    )
    rtstruct = work / "ai" / "boxes.dcm"
    write_rtstruct(rtstruct, series, rois, identity)
    ai_label = f"{subject}_CT_monai_nodules_20260102120000"
    _store(client, session_id, subject_id, ai_label, "RTSTRUCT", rtstruct,
           identity.sop_instance_uid, uid, "RTSTRUCT")  # fmt: skip
    return session_id, series, boxes, scores, ai_label


def test_session_mode_writes_the_assessor_and_the_result(client, tmp_path: Path):
    session_id, _series, _boxes, _scores, ai_label = _seed(client, tmp_path / "seed")
    out = tmp_path / "out"
    result = evaluate_session(DetectionSessionRequest(session_id, PROJECT), client, out)
    assert result.group == "north" and result.scan == "S01_CT"
    assert sorted(p.name for p in out.iterdir()) == ["REPORT", "assessor.xml"]
    assert sorted(p.name for p in (out / "REPORT").iterdir()) == ["detection.json", "detection.png"]
    assessor = QcAssessment.from_xml((out / "assessor.xml").read_text())
    assert assessor.label.startswith("S01_CT_monai_detect_eval_")
    assert assessor.fields["ai_assessor"] == ai_label
    assert assessor.fields["reference_assessor"] == "S01_CT_manual_SEG"
    assert assessor.fields["model_name"] == "nodules"
    assert assessor.scans[0].scan_id == "2"
    statistics = assessor.scans[0].statistics
    assert statistics["detection_reference_lesions"] == 2
    assert statistics["detection_findings"] == 3
    assert statistics["detection_true_positive"] == 1
    assert statistics["detection_false_positive"] == 1  # 0.6; the 0.2 one is below 0.5
    assert statistics["detection_sensitivity"] == 0.5
    back = read_result(out / "REPORT" / "detection.json")
    assert sorted(back.findings.scores().tolist()) == [0.2, 0.6, 0.8]
    assert back.lesion_scores().tolist() == [0.8, -np.inf]
    # A lower threshold reports the 0.2 false positive too.
    low = evaluate_session(
        DetectionSessionRequest(session_id, PROJECT, threshold=0.1), client, tmp_path / "out2",
    )  # fmt: skip
    assert low.figures()["false_positive"] == 2


def test_a_findings_resource_is_read_before_the_regions(client, tmp_path: Path):
    session_id, series, boxes, _scores, ai_label = _seed(client, tmp_path / "seed")
    # Both lesions found, by findings scoring 0.9 and 0.7.
    lesions = lesions_from_label_map(
        np.pad(np.ones((4, 4, 3), np.uint8), ((20, 16), (20, 8), (7, 2))),
        {"nodule": 1},
        ScanFrame.of(series),
    )
    findings = findings_of_boxes(
        series.series_instance_uid, [boxes[0], lesions[0].box_mm], [0.9, 0.7], label="nodule"
    )
    folder = tmp_path / "findings"
    folder.mkdir()
    write_findings(folder / "findings.json", findings)
    upload_assessor_files(client, session_id, ai_label, "FINDINGS", folder, show_progress=False)
    result = evaluate_session(
        DetectionSessionRequest(session_id, PROJECT), client, tmp_path / "out"
    )
    assert result.figures()["true_positive"] == 2
    assert result.figures()["false_positive"] == 0
    assert result.lesion_scores().tolist() == [0.9, 0.7]


def test_a_bad_hit_rule_and_a_missing_reference_are_refused(client, tmp_path: Path):
    session_id, *_ = _seed(client, tmp_path / "seed")
    with pytest.raises(UserError, match="--hit-rule: hit rule 'iou>=2'"):
        evaluate_session(
            DetectionSessionRequest(session_id, PROJECT, hit_rule="iou>=2"), client, tmp_path / "out",
        )  # fmt: skip
    with pytest.raises(UserError, match="no segmentation assessor whose label matches"):
        evaluate_session(
            DetectionSessionRequest(session_id, PROJECT, reference_pattern=".*reader2.*"),
            client, tmp_path / "out",
        )  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_the_files_are_read_in_the_mounted_session_archive(
    sandbox, client, tmp_path: Path, monkeypatch
):
    """Where the catalog's projectPath puts them (CatalogUtils.getEntryDetails), no download."""
    from xnat_plugin.sandbox.archive import archive_directory

    session_id, *_ = _seed(client, tmp_path / "seed")
    mount = archive_directory(sandbox.data_dir, f"/experiments/{session_id}")

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"downloaded {args[1:3]} although the mount holds it")

    monkeypatch.setattr("containers.common.resource_files.download_resource", no_download)
    request = DetectionSessionRequest(session_id, PROJECT, session_dir=mount)
    result = evaluate_session(request, client, tmp_path / "out")
    assert result.figures()["true_positive"] == 1


def test_project_mode_pools_every_session_result(client, tmp_path: Path):
    """Two sessions, each: one of two lesions found at 0.8, false positives at 0.6 and 0.2.
    Pooled, sensitivity is 1/2 at every rate from 1/8 to 8 FPs per scan: CPM 0.5."""
    import json

    from containers.detection.project_mode import evaluate_project

    for index, site in ((1, "north"), (2, "south")):
        session_id, *_ = _seed(client, tmp_path / f"seed{index}", index, site)
        out = tmp_path / f"eval{index}"
        evaluate_session(DetectionSessionRequest(session_id, PROJECT), client, out)
        xml = (out / "assessor.xml").read_text()
        create_assessor(client, session_id, xml)
        label = QcAssessment.from_xml(xml).label
        upload_assessor_files(client, session_id, label, "REPORT", out / "REPORT",
                              show_progress=False)  # fmt: skip
    folder = tmp_path / "project"
    folder.mkdir()
    figures = evaluate_project(client, PROJECT, folder, resamples=20)
    overall = figures["nodules"]["all sessions"]
    assert (overall.scans, overall.lesions, overall.detections) == (2, 4, 6)
    assert overall.cpm.value == 0.5
    assert set(figures["nodules"]) == {"all sessions", "north", "south"}
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["models"]["nodules"]["south"]["cpm"]["value"] == 0.5
    assert (folder / "froc.png").stat().st_size > 1000
    assert len((folder / "sessions.csv").read_text().splitlines()) == 3
    with pytest.raises(UserError, match="no detection evaluation of model other"):
        evaluate_project(client, PROJECT, folder, models=["other"])


def test_the_step_writes_everything_at_once_with_its_provenance(client, tmp_path: Path):
    """run_session: the shared step scaffolding's staged output and provenance record."""
    import json

    from containers.detection.step_modes import run_session

    session_id, *_ = _seed(client, tmp_path / "seed")
    out = tmp_path / "out"
    result = run_session(DetectionSessionRequest(session_id, PROJECT), out, client)
    assert result.figures()["true_positive"] == 1
    assert sorted(p.name for p in out.iterdir()) == ["REPORT", "assessor.xml"]
    provenance = json.loads((out / "REPORT" / "detection.json").read_text())["provenance"]
    assert provenance["step"] == "detection-evaluate-session"
    assert len(provenance["inputs"]) == 3, provenance["inputs"]
    assert f"/data/experiments/{session_id}/scans/2" in provenance["inputs"]
    assert provenance["model"]["name"] == "nodules"
    failed = tmp_path / "failed"
    with pytest.raises(UserError, match="no segmentation assessor"):
        run_session(
            DetectionSessionRequest(session_id, PROJECT, reference_pattern="x"), failed, client
        )
    assert not failed.exists() or not any(failed.iterdir())
