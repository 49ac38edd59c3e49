"""Findings JSON (scored boxes on a series) and where detection evaluation reads its boxes: a
findings file, a DICOM SEG or an RTSTRUCT, each read onto its series, axial and oblique."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from containers.common.dicom_series import read_series
from containers.common.findings import (
    FINDINGS_FORMAT,
    Findings,
    findings_of_boxes,
    read_findings,
    score_description,
    score_from_description,
    write_findings,
)
from containers.common.lesions import ScanFrame, lesions_from_label_map
from containers.common.rtstruct_writer import (
    RoiContours,
    StructureSetIdentity,
    box_contours,
    write_rtstruct,
)
from containers.common.seg_writer import SegAlgorithm, write_seg
from containers.detection.sources import predicted_findings, reference_lesions
from xnat_plugin.errors import UserError


def _mask(shape: tuple[int, int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[3:7, 4:9, 2:5] = 1
    mask[20:22, 20:21, 8:9] = 1
    return mask


def _valid() -> dict:
    return {
        "format": FINDINGS_FORMAT,
        "version": 1,
        "frame": "scan",
        "series_instance_uid": "1.2.3",
        "findings": [{"box_mm": [0, 0, 0, 1, 2, 3], "score": 0.5, "label": "nodule"}],
    }


def test_findings_round_trip(tmp_path: Path):
    findings = findings_of_boxes("1.2.3", [[0, 0, 0, 1, 2, 3], [5, 5, 5, 6, 6, 6.5]], [0.9, 0.1])
    write_findings(tmp_path / "f.json", findings)
    back = read_findings(tmp_path / "f.json")
    assert back == findings
    np.testing.assert_array_equal(back.scores(), [0.9, 0.1])
    assert back.boxes().shape == (2, 6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="other"), "not a findings file"),
        (lambda d: d.update(version=2), "version 2 is not known"),
        (lambda d: d.update(frame="ras"), "'frame' is 'ras'"),
        (lambda d: d.update(series_instance_uid=""), "series_instance_uid"),
        (lambda d: d.update(findings={}), "must be a list"),
        (lambda d: d["findings"][0].update(box_mm=[0, 0, 0, 1, 2]), "six finite numbers"),
        (lambda d: d["findings"][0].update(box_mm=[0, 0, 0, 1, 2, True]), "six finite numbers"),
        (lambda d: d["findings"][0].update(box_mm=[0, 0, 4, 1, 2, 3]), "high face"),
        (lambda d: d["findings"][0].update(score="0.5"), "'score' must be a finite number"),
        (lambda d: d["findings"][0].update(label=""), "'label'"),
        (lambda d: d["findings"].append(7), "finding 2 is not an object"),
    ],
)
def test_a_bad_findings_file_is_refused_with_one_line(tmp_path: Path, change, message):
    document = _valid()
    change(document)
    path = tmp_path / "f.json"
    path.write_text(json.dumps(document))
    with pytest.raises(UserError, match=message) as caught:
        read_findings(path)
    assert "\n" not in str(caught.value)
    assert "f.json" in str(caught.value)


def test_nan_score_and_non_json_are_refused(tmp_path: Path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps(_valid()).replace('"score": 0.5', '"score": NaN'))
    with pytest.raises(UserError, match="'score' must be a finite number"):
        read_findings(path)
    path.write_text("not json")
    with pytest.raises(UserError, match="is not JSON"):
        read_findings(path)


def test_score_descriptions_round_trip_and_other_text_is_no_score():
    assert score_from_description(score_description(0.8125)) == 0.8125
    assert score_from_description("nodule drawn by reader 2") is None
    assert score_from_description("detection score nan") is None


def test_patient_coordinate_boxes_become_the_scan_box_around_their_corners(series_dir: Path):
    """On an axial series a box in LPS is the same box in the scan frame; on an oblique one the
    scan-frame box around its corners contains it."""
    series = read_series(series_dir)
    frame = ScanFrame.of(series)
    box = np.array([4.0, 6.0, 3.0, 12.0, 15.0, 9.0])
    corners = frame.box_corners_lps(box)
    lps_box = [*corners.min(axis=0), *corners.max(axis=0)]
    given = Findings(
        series.series_instance_uid, findings_of_boxes("x", [lps_box], [1]).findings, "lps"
    )
    back = given.in_scan_frame(frame).boxes()[0]
    assert np.all(back[:3] <= box[:3] + 1e-6) and np.all(back[3:] >= box[3:] - 1e-6)
    if np.allclose(np.abs(frame.affine_lps[:3, :3] / series.spacing), np.eye(3)):
        np.testing.assert_allclose(back, box, atol=1e-6)
    else:
        assert np.prod(back[3:] - back[:3]) > np.prod(box[3:] - box[:3]) * 1.01


def _rtstruct(path: Path, series, boxes, scores) -> None:
    frame = ScanFrame.of(series)
    rois = [
        RoiContours(
            f"nodule {n}",
            box_contours(frame, np.asarray(box)),
            description=score_description(score) if score is not None else "",
        )
        for n, (box, score) in enumerate(zip(boxes, scores, strict=True), start=1)
    ]
    identity = StructureSetIdentity(
        sop_instance_uid=generate_uid(), series_instance_uid=generate_uid(), label="boxes"
    )
    write_rtstruct(path, series, rois, identity)


def test_reference_lesions_from_a_seg_are_its_components(tmp_path: Path, series_dir: Path):
    series = read_series(series_dir)
    mask = _mask(series.shape)
    write_seg(tmp_path / "ref.dcm", mask, series, {"nodule": 1}, algorithm=SegAlgorithm("MANUAL"))
    lesions = reference_lesions(tmp_path / "ref.dcm", series)
    expected = lesions_from_label_map(mask, {"nodule": 1}, ScanFrame.of(series))
    assert len(lesions) == 2
    np.testing.assert_allclose([x.box_mm for x in lesions], [x.box_mm for x in expected])
    with pytest.raises(UserError, match="has no label liver"):
        reference_lesions(tmp_path / "ref.dcm", series, ["liver"])


def test_predicted_findings_from_an_rtstruct_carry_each_roi_score(tmp_path: Path, series_dir: Path):
    series = read_series(series_dir)
    frame = ScanFrame.of(series)
    truth = lesions_from_label_map(_mask(series.shape), {"n": 1}, frame)
    boxes = [np.array(x.box_mm) for x in truth]
    folder = tmp_path / "RTSTRUCT"
    folder.mkdir()
    _rtstruct(folder / "boxes.dcm", series, boxes, [0.75, None])
    findings = predicted_findings(folder, series)  # a resource folder with one file
    assert findings.series_instance_uid == series.series_instance_uid
    np.testing.assert_allclose(findings.boxes(), np.array(boxes), atol=1e-6)
    np.testing.assert_array_equal(findings.scores(), [0.75, 1.0])


def test_predicted_findings_from_a_seg_score_one_per_component(tmp_path: Path, series_dir: Path):
    series = read_series(series_dir)
    write_seg(tmp_path / "ai.dcm", _mask(series.shape), series, {"nodule": 1})
    findings = predicted_findings(tmp_path / "ai.dcm", series)
    assert len(findings.findings) == 2
    np.testing.assert_array_equal(findings.scores(), [1.0, 1.0])


def test_a_findings_file_of_another_series_is_refused(tmp_path: Path, series_dir: Path):
    series = read_series(series_dir)
    write_findings(tmp_path / "f.json", findings_of_boxes("1.2.3", [[0, 0, 0, 1, 1, 1]], [1]))
    with pytest.raises(UserError, match="not on the scan's series"):
        predicted_findings(tmp_path / "f.json", series)
    ok = findings_of_boxes(series.series_instance_uid, [[0, 0, 0, 1, 1, 1]], [0.4])
    write_findings(tmp_path / "g.json", ok)
    assert predicted_findings(tmp_path / "g.json", series) == ok


def test_a_prediction_that_is_an_image_is_refused(tmp_path: Path, series_dir: Path):
    series = read_series(series_dir)
    with pytest.raises(UserError, match="neither a DICOM SEG nor an RTSTRUCT"):
        predicted_findings(series.paths[0], series)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="expected one file"):
        predicted_findings(tmp_path / "empty", series)
