"""Bad training inputs end with one clear line on stderr, exit 2, and no bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from containers.train.__main__ import main
from tests.train.project_archive import write_project_archive


@pytest.fixture(scope="module")
def good_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project_archive(tmp_path_factory.mktemp("archive") / "P", 3)


def _copy(archive: Path, tmp_path: Path) -> Path:
    target = tmp_path / "P"
    shutil.copytree(archive, target)
    return target


def _seg_of(project: Path, session: str) -> Path:
    return next((project / "arc001" / session / "ASSESSORS").glob("*/SEG/*.dcm"))


def _train(project: Path, output: Path, *extra: str) -> int:
    return main(
        [
            "--project",
            "P",
            "--model-name",
            "m",
            "--output",
            str(output),
            "--project-dir",
            str(project),
            "--epochs",
            "1",
            "--steps-per-epoch",
            "1",
            "--patch-size",
            "32,32,16",
            "--device",
            "cpu",
            *extra,
        ]
    )


def _assert_one_line_and_no_bundle(capsys: pytest.CaptureFixture[str], output: Path) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    # Log records may come before it; the failure itself is exactly one line, the last.
    failures = [line for line in lines if line.startswith("train: ")]
    assert failures == [lines[-1]], lines
    assert not any("Traceback" in line for line in lines), lines
    err = failures[0]
    assert not (output / "m").exists()
    assert not output.exists() or not any(output.iterdir())
    return err


def test_project_without_reference_segmentations_is_refused_with_the_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project_archive(tmp_path / "P", 2, with_reference=False)
    assert _train(project, tmp_path / "out") == 2
    err = _assert_one_line_and_no_bundle(capsys, tmp_path / "out")
    # What was looked for, where, why each session failed, and what to do.
    assert "no training pair" in err
    assert "icr:roiCollectionData" in err and "'.*manual.*'" in err
    assert f"the mounted archive {project} (2 sessions)" in err
    assert "SUBJ001_CT1: no reference SEG assessor matches the pattern" in err
    assert "--reference-pattern" in err


def test_a_pattern_matching_only_our_own_predictions_finds_no_reference(
    good_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _copy(good_archive, tmp_path)
    for folder in (project / "arc001").glob("*/ASSESSORS/*"):
        folder.rename(folder.with_name(folder.name.replace("_manual_SEG", "_monai_m_20260101")))
    assert _train(project, tmp_path / "out", "--reference-pattern", ".*") == 2
    assert "no training pair" in _assert_one_line_and_no_bundle(capsys, tmp_path / "out")


def test_references_naming_different_labels_are_refused_with_a_list(
    good_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _copy(good_archive, tmp_path)
    seg_path = _seg_of(project, "SUBJ002_CT1")
    seg = pydicom.dcmread(seg_path)
    seg.SegmentSequence[0].SegmentLabel = "Leber"
    seg.save_as(seg_path)
    assert _train(project, tmp_path / "out") == 2
    err = _assert_one_line_and_no_bundle(capsys, tmp_path / "out")
    assert "different labels" in err
    assert "SUBJ002_CT1: kidney, leber, spleen" in err


def test_requested_label_missing_from_a_reference_is_named(
    good_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _train(good_archive, tmp_path / "out", "--labels", "liver,pancreas") == 2
    err = _assert_one_line_and_no_bundle(capsys, tmp_path / "out")
    assert "SUBJ001_CT1 lacks pancreas" in err


def test_a_corrupt_seg_ends_with_one_line_naming_it(
    good_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _copy(good_archive, tmp_path)
    seg_path = _seg_of(project, "SUBJ003_CT1")
    seg_path.write_bytes(seg_path.read_bytes()[:2000])
    assert _train(project, tmp_path / "out") == 2
    err = _assert_one_line_and_no_bundle(capsys, tmp_path / "out")
    assert "SUBJ003_CT1" in err or seg_path.name in err


def test_more_folds_than_subjects_is_refused(
    good_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _train(good_archive, tmp_path / "out", "--folds", "5") == 2
    assert "--folds 5" in _assert_one_line_and_no_bundle(capsys, tmp_path / "out")
