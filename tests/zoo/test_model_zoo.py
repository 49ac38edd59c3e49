"""The model zoo's own bundles (../shared/reference/monai-model-zoo, configs unchanged, random
weights from each bundle's network_def) through the infer step, against `monai.bundle run` on
the same NIfTI. Sliding-window sizes are cut down with MONAI's override syntax so the tests stay
small; nothing else of the bundles is changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest

from containers.common.bundle_pipeline import UNUSED_BY_PIPELINES
from containers.common.bundle_trust import TRUST_ENV
from containers.common.dicom_series import read_series
from containers.common.nifti_io import write_nifti
from containers.infer.__main__ import main
from containers.infer.bundle_run import resample_onto
from tests.imaging.dicom_factory import SeriesGeometry, phantom_volume, write_ct_series
from tests.infer.conftest import xnat_arguments
from tests.monai_bundles import calibrated_weights, run_monai_bundle, zoo_bundle
from tests.program_run import run_infer_program
from xnat_plugin.models.layout import code_checksum

REPO = Path(__file__).resolve().parents[2]
ROI = "inferer#roi_size=[32,32,32]"
BRATS_SCANS = {"1": "AX T1C POST", "2": "AX T1", "3": "T2 FSE", "4": "AX FLAIR"}


@pytest.fixture(autouse=True)
def no_site_trust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRUST_ENV, raising=False)
    monkeypatch.setenv("XNAT_MONAI_TRUST_DIR", str(tmp_path / "no-trust"))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # restored after a trusted run


def _segment_labels(output: Path) -> list[str]:
    (seg_file,) = (output / "SEG").iterdir()
    return [s.SegmentLabel for s in pydicom.dcmread(seg_file).SegmentSequence]


def _nifti(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)


# bundle, series shape and spacing (mm) near the bundle's own, overrides of its datalist for
# `monai.bundle run`, extra arguments for the step
CASES: dict[str, tuple[tuple[int, int, int], tuple[float, float, float], str, list[str]]] = {
    "spleen_ct_segmentation": ((40, 36, 20), (1.5, 1.5, 2.0), "CT", ["--override", ROI]),
    "segmentation_template": ((32, 32, 24), (1.0, 1.0, 1.0), "MR", []),  # SimpleInferer: whole
    "prostate_mri_anatomy": ((28, 26, 18), (0.6, 0.6, 0.6), "MR", ["--override", ROI]),
}
LABELS = {
    "spleen_ct_segmentation": ["spleen"],
    "segmentation_template": ["category 1", "category 2", "category 3"],
    "prostate_mri_anatomy": ["central gland", "peripheral zone"],
}


def _monai_overrides(name: str, image: Path) -> dict[str, Any]:
    if name == "segmentation_template":
        return {"dataset_dir": str(image.parent)}
    overrides: dict[str, Any] = {"datalist": [str(image)], "inferer#roi_size": [32, 32, 32]}
    return overrides


@pytest.mark.parametrize("name", sorted(CASES))
def test_zoo_bundle_segments_like_monai_bundle_run(
    name: str, reference_dir: Path, tmp_path: Path
) -> None:
    shape, spacing, modality, extra = CASES[name]
    dicom = tmp_path / "dicom"
    volume = phantom_volume(shape) + (0 if modality == "CT" else 1100)
    write_ct_series(dicom, volume, SeriesGeometry(spacing=spacing), modality=modality)
    bundle = zoo_bundle(reference_dir, name, tmp_path / "models")
    series = read_series(dicom)
    image = write_nifti(tmp_path / "staged" / "image.nii", series.volume, series.affine)
    calibrated_weights(bundle, image, overrides=_monai_overrides(name, image))
    output = tmp_path / "out"
    assert main(["--input", str(dicom), "--model", str(bundle), "--output", str(output),
                 *extra, *xnat_arguments()]) == 0  # fmt: skip

    assert _segment_labels(output) == LABELS[name]
    report = json.loads((output / "REPORT" / "report.json").read_text())
    assert report["pipeline"] == "bundle" and report["largest_component"] is False
    assert report["provenance"]["model"]["trust"].startswith("declarative")
    ours = _nifti(next((output / "NIFTI").iterdir()))

    written = run_monai_bundle(bundle, image, tmp_path / "monai", _monai_overrides(name, image))
    theirs = np.rint(_nifti(written)).astype(np.uint8).reshape(ours.shape)
    shares = np.bincount(theirs.ravel(), minlength=len(LABELS[name]) + 1) / theirs.size
    assert shares.min() >= 0.1, shares  # every class on a real share: agreement is not trivial
    assert np.mean(theirs == ours) >= 0.999


def _brats_session(root: Path) -> Path:
    for scan, description in BRATS_SCANS.items():
        # T2 on another grid: resampled onto T1c's by the step, recorded in the report
        geometry = SeriesGeometry(spacing=(1.2, 1.2, 1.5) if scan == "3" else (1.0, 1.0, 1.0))
        write_ct_series(root / "SCANS" / scan / "DICOM",
                        phantom_volume((32, 32, 24), int(scan)) + 1100, geometry,
                        modality="MR", series_description=description)  # fmt: skip
    return root


def test_brats_four_scans_refused_until_trusted_then_three_overlapping_regions(
    reference_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    session = _brats_session(tmp_path / "session")
    bundle = zoo_bundle(reference_dir, "brats_mri_segmentation", tmp_path / "models")
    # The four channels as the step stages them (T2 resampled onto T1c's grid): the weights
    # are set on them so that each region covers a real share, and monai.bundle run reads them.
    staged = []
    first = read_series(session / "SCANS" / "1" / "DICOM")
    for scan in BRATS_SCANS:
        series = read_series(session / "SCANS" / scan / "DICOM")
        volume = resample_onto(series.volume, series.affine, first.shape, first.affine)
        staged.append(write_nifti(tmp_path / "staged" / f"{scan}.nii", volume, first.affine))
    calibrated_weights(bundle, staged, overrides={"inferer#roi_size": [32, 32, 32]}, sigmoid=True)
    (tmp_path / "input").mkdir()
    args = ["--input", str(tmp_path / "input"), "--session-dir", str(session),
            "--model", str(bundle), "--override", ROI, *xnat_arguments()]  # fmt: skip

    # Its postprocessing evaluates a lambda: code, so the site must approve it first.
    assert main([*args, "--output", str(tmp_path / "refused")]) == 2
    error = [x for x in capsys.readouterr().err.splitlines() if x.startswith("infer: ")]
    assert len(error) == 1 and "Lambdad" in error[0] and code_checksum(bundle) in error[0]

    monkeypatch.setenv(TRUST_ENV, code_checksum(bundle))
    output = tmp_path / "out"
    assert main([*args, "--output", str(output)]) == 0
    assert _segment_labels(output) == ["Tumor core", "Whole tumor", "Enhancing tumor"]
    report = json.loads((output / "REPORT" / "report.json").read_text())
    assert [(c["channel"], c["scan_id"], c["resampled_onto_first"]) for c in report["channels"]] == [
        ("T1c", "1", False), ("T1", "2", False), ("T2", "3", True), ("FLAIR", "4", False)
    ]  # fmt: skip
    masks = _nifti(next((output / "NIFTI").iterdir())).astype(bool)  # (X, Y, Z, TC/WT/ET)

    shares = masks.mean(axis=(0, 1, 2))  # each region on a real share: agreement is not trivial
    assert ((shares >= 0.1) & (shares <= 0.6)).all(), shares

    # monai.bundle run on the same four staged channels writes BraTS's merged labels:
    # 4 enhancing tumour, 1 the rest of the tumour core, 2 the rest of the whole tumour.
    written = run_monai_bundle(
        bundle,
        staged,
        tmp_path / "monai",
        {"test_datalist": [{"image": [str(p) for p in staged]}], "inferer#roi_size": [32, 32, 32]},
    )
    theirs = np.rint(_nifti(written)).astype(np.uint8).reshape(first.shape)
    tc, wt, et = masks[..., 0], masks[..., 1], masks[..., 2]
    merged = np.where(et, 4, np.where(tc, 1, np.where(wt, 2, 0)))
    assert np.mean(merged == theirs) >= 0.999


@pytest.mark.parametrize(
    ("name", "kind"),
    [("lung_nodule_ct_detection", "detection"), ("classification_template", "classification")],
)
def test_detection_and_classification_bundles_are_refused_in_one_line(
    name: str, kind: str, reference_dir: Path, tmp_path: Path, capsys
) -> None:
    dicom = tmp_path / "dicom"
    write_ct_series(dicom, phantom_volume((16, 16, 8)))
    bundle = tmp_path / "models" / name
    shutil.copytree(reference_dir / "monai-model-zoo" / name, bundle)
    assert (
        main(["--input", str(dicom), "--model", str(bundle), "--output", str(tmp_path / "o")]) == 2
    )
    error = [x for x in capsys.readouterr().err.splitlines() if x.startswith("infer: ")]
    assert len(error) == 1 and f"({kind})" in error[0] and "not a segmentation" in error[0]


@pytest.mark.parametrize(
    "name",
    [
        "spleen_ct_segmentation",
        "segmentation_template",
        "prostate_mri_anatomy",
        "brats_mri_segmentation",
    ],
)
def test_models_add_check_passes_each_zoo_segmentation_bundle_without_running_its_code(
    name: str, reference_dir: Path, tmp_path: Path
) -> None:
    from containers.infer.bundle_check import check_bundle

    bundle = zoo_bundle(reference_dir, name, tmp_path / "models")
    facts = check_bundle(bundle)
    assert list(facts["labels"]) == LABELS.get(
        name, ["Tumor core", "Whole tumor", "Enhancing tumor"]
    )
    assert facts["forward_pass"]["output"][1] == len(facts["labels"]) + (
        name != "brats_mri_segmentation"
    )
    assert facts["needs_trust"] is (name == "brats_mri_segmentation")
    assert facts["code_sha256"] == code_checksum(bundle)


@pytest.mark.parametrize("name", ["spleen_ct_segmentation", "prostate_mri_anatomy"])
def test_the_program_runs_a_zoo_bundle_on_a_monai_without_its_engines_and_same_labels(
    name: str, reference_dir: Path, tmp_path: Path
) -> None:
    """Run as the program (`python -m containers.infer`), the step imports MONAI without the
    packages of its engines, handlers and visualisers (bundle_pipeline.import_monai): none of
    them loads in the process, and the label map is still `monai.bundle run`'s (run here, with
    all of MONAI) on calibrated weights."""
    shape, spacing, modality, extra = CASES[name]
    dicom = tmp_path / "dicom"
    volume = phantom_volume(shape) + (0 if modality == "CT" else 1100)
    write_ct_series(dicom, volume, SeriesGeometry(spacing=spacing), modality=modality)
    bundle = zoo_bundle(reference_dir, name, tmp_path / "models")
    series = read_series(dicom)
    image = write_nifti(tmp_path / "staged" / "image.nii", series.volume, series.affine)
    calibrated_weights(bundle, image, overrides=_monai_overrides(name, image))
    argv = ["--input", str(dicom), "--model", str(bundle), "--output", str(tmp_path / "out"),
            "--device", "cpu", *extra]  # fmt: skip
    state = run_infer_program(argv)
    modules = state.modules
    assert state.exit_code == 0 and "monai.transforms" in modules
    assert not [m for m in modules if m.partition(".")[0] in UNUSED_BY_PIPELINES]

    ours = _nifti(next((tmp_path / "out" / "NIFTI").iterdir()))
    written = run_monai_bundle(bundle, image, tmp_path / "monai", _monai_overrides(name, image))
    theirs = np.rint(_nifti(written)).astype(np.uint8).reshape(ours.shape)
    shares = np.bincount(theirs.ravel(), minlength=len(LABELS[name]) + 1) / theirs.size
    assert shares.min() >= 0.1, shares
    assert np.mean(theirs == ours) >= 0.999
