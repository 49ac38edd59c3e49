"""`python -m containers.detection`: its modes end with their outputs all in place or none, an
expected failure as one line and exit 2, and its entry module loads neither torch nor MONAI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from containers.common.dicom_series import read_series
from containers.common.findings import findings_of_boxes, write_findings
from containers.common.lesions import ScanFrame, lesions_from_label_map
from containers.common.seg_writer import SegAlgorithm, write_seg
from containers.detection.__main__ import main
from tests.startup.test_lazy_imports import HEAVY, modules_after, top_level


def _files(tmp_path: Path, series_dir: Path) -> tuple[Path, Path]:
    """A reference SEG with two lesions and findings: the first lesion at 0.9, a false
    positive at 0.7 and one at 0.3."""
    series = read_series(series_dir)
    mask = np.zeros(series.shape, np.uint8)
    mask[3:7, 4:9, 2:5] = 1
    mask[20:24, 20:24, 7:10] = 1
    write_seg(
        tmp_path / "ref" / "seg.dcm", mask, series, {"nodule": 1}, algorithm=SegAlgorithm("MANUAL")
    )
    frame = ScanFrame.of(series)
    first = lesions_from_label_map(mask, {"nodule": 1}, frame)[0]
    boxes = [
        first.box_mm,
        frame.voxel_box_mm((30, 2, 1), (34, 6, 3)),
        frame.voxel_box_mm((30, 20, 5), (33, 23, 7)),
    ]
    write_findings(
        tmp_path / "findings.json",
        findings_of_boxes(series.series_instance_uid, boxes, [0.9, 0.7, 0.3], label="nodule"),
    )
    return tmp_path / "ref", tmp_path / "findings.json"


def test_local_evaluation_writes_the_result(tmp_path: Path, series_dir: Path):
    reference, prediction = _files(tmp_path, series_dir)
    out = tmp_path / "out"
    code = main(
        ["evaluate", "--reference", str(reference), "--prediction", str(prediction),
         "--image", str(series_dir), "--output", str(out), "--name", "scan1"]
    )  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["detection.json", "detection.png"]
    document = json.loads((out / "detection.json").read_text())
    assert document["scan"] == "scan1" and document["hit_rule"] == "centre-in-box"
    assert document["figures"]["true_positive"] == 1
    assert document["figures"]["false_positive"] == 1
    assert document["figures"]["false_negative"] == 1
    assert document["provenance"]["step"] == "detection-evaluate"
    # At 0.25 the 0.3 false positive is reported too.
    code = main(
        ["evaluate", "--reference", str(reference), "--prediction", str(prediction),
         "--image", str(series_dir), "--output", str(tmp_path / "low"), "--threshold", "0.25"]
    )  # fmt: skip
    low = json.loads((tmp_path / "low" / "detection.json").read_text())
    assert code == 0 and low["figures"]["false_positive"] == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--hit-rule", "iou>=0"], "detection: --hit-rule: hit rule 'iou>=0' is not known"),
        (["--threshold", "nan"], "detection: --threshold nan must be a finite number"),
        (["--labels", "liver"], "detection: reference seg.dcm has no label liver"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(
    tmp_path: Path, series_dir: Path, capsys, extra, message
):
    reference, prediction = _files(tmp_path, series_dir)
    out = tmp_path / "out"
    code = main(
        ["evaluate", "--reference", str(reference), "--prediction", str(prediction),
         "--image", str(series_dir), "--output", str(out), *extra]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(message), err
    assert not out.exists() or not any(out.iterdir())


def test_the_xnat_modes_need_xnat_host(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("XNAT_HOST", raising=False)
    code = main(["evaluate-project", "--project", "P", "--output", str(tmp_path / "out")])
    assert code == 2
    assert "XNAT_HOST is not set" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_entry_module_imports_neither_torch_nor_monai():
    loaded = top_level(modules_after("import containers.detection.__main__"))
    assert not loaded & set(HEAVY)
