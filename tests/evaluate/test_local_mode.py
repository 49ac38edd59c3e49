"""`python -m containers.evaluate --reference R --prediction P --output DIR` on files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from containers.common.metrics import compute_label_metrics
from containers.common.nifti_io import write_nifti
from containers.evaluate.__main__ import main
from tests.evaluate.seg_pairs import LABELS, write_seg_case

AFFINE = np.diag([0.8, 0.9, 2.5, 1.0])


def _cubes(shift: int = 0) -> np.ndarray:
    volume = np.zeros((40, 40, 20), np.uint8)
    volume[5 + shift : 15 + shift, 5:15, 5:10] = 1
    volume[20:30, 20:30, 8:14] = 2
    return volume


def _write_pair(folder: Path, shift: int = 2) -> tuple[Path, Path]:
    return (
        write_nifti(folder / "ref.nii.gz", _cubes(), AFFINE),
        write_nifti(folder / "pred.nii.gz", _cubes(shift), AFFINE),
    )


def test_nifti_pair_gives_metrics_json_and_csv_with_units(tmp_path):
    reference, prediction = _write_pair(tmp_path)
    out = tmp_path / "out"
    args = ["--reference", str(reference), "--prediction", str(prediction), "--output", str(out)]
    assert main([*args, "--labels", "liver=1,spleen=2", "--tolerance-mm", "2"]) == 0
    document = json.loads((out / "metrics.json").read_text())
    liver = document["labels"]["liver"]
    assert liver["dice"] == pytest.approx(0.8)
    assert liver["hausdorff_mm"] == pytest.approx(2 * 0.8)
    assert liver["tolerance_mm"] == 2.0
    assert document["labels"]["spleen"]["dice"] == 1.0
    assert document["units"]["hausdorff95_mm"] == "mm"
    assert document["units"]["volume_reference_ml"] == "mL"
    assert len(document["provenance"]["inputs"][str(reference)]) == 64  # sha256
    assert document["provenance"]["step"] == "evaluate-local"
    assert document["provenance"]["energy"]["parts"][0]["source"] in ("rapl", "estimate")
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [r["label"] for r in rows] == ["liver", "spleen"]
    assert float(rows[0]["dice"]) == pytest.approx(0.8)


def test_labels_default_to_every_value_found_in_either_map(tmp_path):
    reference, prediction = _write_pair(tmp_path)
    out = tmp_path / "out"
    main(["--reference", str(reference), "--prediction", str(prediction), "--output", str(out)])
    assert set(json.loads((out / "metrics.json").read_text())["labels"]) == {"label_1", "label_2"}


def test_prediction_on_a_finer_grid_of_the_same_space_is_resampled_onto_the_reference(tmp_path):
    reference = write_nifti(tmp_path / "ref.nii.gz", _cubes(), AFFINE)
    fine = np.repeat(_cubes(2), 2, axis=2)  # half the slice spacing, same world extent
    fine_affine = AFFINE.copy()
    fine_affine[2, 2] = 1.25
    fine_affine[2, 3] = -0.625  # voxel centres of the two fine slices straddle the coarse one
    prediction = write_nifti(tmp_path / "pred.nii.gz", fine, fine_affine)
    out = tmp_path / "out"
    code = main(
        ["--reference", str(reference), "--prediction", str(prediction), "--output", str(out)]
    )
    assert code == 0
    labels = json.loads((out / "metrics.json").read_text())["labels"]
    assert labels["label_1"]["dice"] == pytest.approx(0.8)
    assert labels["label_2"]["dice"] == 1.0


def test_prediction_of_another_field_of_view_is_refused_in_one_line_and_leaves_output_empty(
    tmp_path,
):
    reference = write_nifti(tmp_path / "ref.nii.gz", _cubes(), AFFINE)
    far = AFFINE.copy()
    far[0, 3] = 500.0
    prediction = write_nifti(tmp_path / "pred.nii.gz", _cubes(), far)
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "containers.evaluate",
            "--reference",
            str(reference),
            "--prediction",
            str(prediction),
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "field of view" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_malformed_labels_option_is_a_user_error(tmp_path):
    reference, prediction = _write_pair(tmp_path)
    args = [
        "--reference",
        str(reference),
        "--prediction",
        str(prediction),
        "--output",
        str(tmp_path / "o"),
    ]
    assert main([*args, "--labels", "liver:1"]) == 2


def test_seg_pair_numbered_differently_is_matched_by_name_on_the_series_grid(tmp_path):
    case = write_seg_case(tmp_path, seed=2)
    out = tmp_path / "out"
    code = main(
        [
            "--reference",
            str(case.reference_seg),
            "--prediction",
            str(case.prediction_seg),
            "--image",
            str(case.dicom_dir),
            "--output",
            str(out),
        ]
    )
    assert code == 0
    labels = json.loads((out / "metrics.json").read_text())["labels"]
    expected = compute_label_metrics(case.reference, case.prediction, case.series.spacing, LABELS)
    for name in LABELS:
        assert labels[name]["dice"] == pytest.approx(expected[name].dice)
        assert labels[name]["hausdorff95_mm"] == pytest.approx(expected[name].hausdorff95_mm)


def test_seg_of_another_series_is_refused(tmp_path):
    first = write_seg_case(tmp_path / "a", seed=0)
    second = write_seg_case(tmp_path / "b", seed=0)
    code = main(
        [
            "--reference",
            str(first.reference_seg),
            "--prediction",
            str(second.prediction_seg),
            "--image",
            str(first.dicom_dir),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_negative_tolerance_is_a_user_error(tmp_path):
    reference, prediction = _write_pair(tmp_path)
    args = ["--reference", str(reference), "--prediction", str(prediction)]
    assert main([*args, "--output", str(tmp_path / "o"), "--tolerance-mm", "-1"]) == 2


def test_both_empty_label_is_written_as_null_not_as_a_perfect_score(tmp_path):
    reference, prediction = _write_pair(tmp_path)
    out = tmp_path / "out"
    args = ["--reference", str(reference), "--prediction", str(prediction), "--output", str(out)]
    assert main([*args, "--labels", "liver=1,kidney=3"]) == 0
    kidney = json.loads((out / "metrics.json").read_text())["labels"]["kidney"]
    assert kidney["dice"] is None and kidney["hausdorff95_mm"] is None
    assert kidney["reference_empty"] is True
