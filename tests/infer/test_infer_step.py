"""The infer step end to end on a synthetic series with a tiny bundle, and its refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from containers.common.dicom_series import read_series
from containers.common.seg_reader import read_seg
from containers.infer.__main__ import main
from tests.bundles import LABELS
from tests.infer.conftest import xnat_arguments
from xnat_plugin.assessors.assessor_id import assessor_id
from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.assessors.xsd import load_reference_schemas, validate

REPO = Path(__file__).resolve().parents[2]


def run_infer(series_dir: Path, model: Path, output: Path, *extra: str) -> int:
    return main(
        ["--input", str(series_dir), "--model", str(model), "--output", str(output), *extra]
    )


def test_infer_assessor_validates_against_xnats_schemas(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path, reference_dir: Path
):
    output = tmp_path / "out"
    assert run_infer(series_dir, tiny_bundle, output, *xnat_arguments()) == 0
    assessor_xml = (output / "assessor.xml").read_text()
    # As written, ID included: XNAT validates the document before it would generate anything.
    assert validate(assessor_xml, load_reference_schemas(reference_dir)) == []
    assessor = RoiCollection.from_xml(assessor_xml)
    assert assessor.id == assessor_id("XNAT_E00001", "LIVER", assessor.label)


def test_infer_writes_seg_nifti_report_and_assessor(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path
):
    output = tmp_path / "out"
    assert run_infer(series_dir, tiny_bundle, output, *xnat_arguments()) == 0
    assert sorted(p.name for p in output.iterdir()) == ["NIFTI", "REPORT", "SEG", "assessor.xml"]
    (seg_file,) = (output / "SEG").iterdir()
    (nifti_file,) = (output / "NIFTI").iterdir()
    report = json.loads((output / "REPORT" / "report.json").read_text())
    assert (output / "REPORT" / "qc.png").read_bytes()[:4] == b"\x89PNG"

    series = read_series(series_dir)
    nifti = nib.load(nifti_file)
    np.testing.assert_allclose(nifti.affine, series.affine, atol=1e-5)
    label_map = np.asarray(nifti.dataobj)
    seg = read_seg(seg_file, series)
    np.testing.assert_array_equal(seg.array, label_map)

    assessor_xml = (output / "assessor.xml").read_text()
    assessor = RoiCollection.from_xml(assessor_xml)
    assert (
        assessor.uid == pydicom.dcmread(seg_file).SOPInstanceUID == report["seg_sop_instance_uid"]
    )
    assert assessor.series_uids == [series.series_instance_uid]
    assert assessor.session_id == "XNAT_E00001" and assessor.subject_id == "XNAT_S00001"
    assert assessor.label.startswith("S1_monai_tiny_unet_") and len(assessor.label) == 33
    assert seg_file.name == f"{assessor.label}.dcm"

    voxel_ml = float(np.prod(series.spacing)) / 1000
    for name, value in LABELS.items():
        assert report["labels"][name]["voxels"] == int(np.count_nonzero(label_map == value))
        assert report["labels"][name]["volume_ml"] == pytest.approx(
            report["labels"][name]["voxels"] * voxel_ml, abs=1e-3
        )
    provenance = report["provenance"]
    assert provenance["model"]["members"] == ["models/fold_0/model.pt", "models/fold_1/model.pt"]
    assert len(provenance["model"]["sha256"]) == 64
    assert provenance["software"]["monai"] and provenance["peak_memory_mb"] > 0
    assert provenance["energy"]["source"] in ("rapl", "estimate", "rapl+nvml", "estimate+nvml")
    assert provenance["energy"]["joules"] > 0
    assert report["timings"]["forward_passes"] == 2


def test_seg_says_automatic_with_the_model_name(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path
):
    assert run_infer(series_dir, tiny_bundle, tmp_path / "out") == 0
    (seg_file,) = (tmp_path / "out" / "SEG").iterdir()
    segment = pydicom.dcmread(seg_file).SegmentSequence[0]
    assert segment.SegmentAlgorithmType == "AUTOMATIC"
    assert segment.SegmentAlgorithmName == "tiny_unet"
    assert not (tmp_path / "out" / "assessor.xml").exists()


def test_tta_runs_four_passes_per_model(tmp_path: Path, series_dir: Path, tiny_bundle: Path):
    assert (
        run_infer(series_dir, tiny_bundle, tmp_path / "out", "--tta", "--resample", "nearest") == 0
    )
    report = json.loads((tmp_path / "out" / "REPORT" / "report.json").read_text())
    assert report["timings"]["forward_passes"] == 8 and report["tta"] is True


def test_a_folder_of_models_with_one_bundle_is_accepted(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path
):
    assert run_infer(series_dir, tiny_bundle.parent, tmp_path / "out") == 0


def test_incomplete_xnat_arguments_are_refused(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path, capsys
):
    assert run_infer(series_dir, tiny_bundle, tmp_path / "out", "--session-id", "XNAT_E1") == 2
    assert "--project, --subject, --session-label missing" in capsys.readouterr().err


def test_bad_input_exits_2_with_one_line_and_leaves_output_empty(tmp_path: Path, tiny_bundle: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    output = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "containers.infer", "--input", str(empty), "--model",
         str(tiny_bundle), "--output", str(output)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("infer:")]
    assert len(error_lines) == 1 and "no DICOM image files" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert not output.exists() or list(output.iterdir()) == []


def test_failure_while_writing_leaves_output_empty(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch
):
    from xnat_plugin.errors import UserError

    def broken_montage(*args, **kwargs):
        raise UserError("disk full")

    # The step imports its writers when it writes: patch the writer where it lives.
    monkeypatch.setattr("containers.common.qc_picture.write_qc_montage", broken_montage)
    output = tmp_path / "out"
    assert run_infer(series_dir, tiny_bundle, output) == 2
    assert list(output.iterdir()) == []


def test_non_empty_output_folder_is_refused(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path, capsys
):
    output = tmp_path / "out"
    output.mkdir()
    (output / "old.txt").write_text("x")
    assert run_infer(series_dir, tiny_bundle, output) == 2
    assert "is not empty" in capsys.readouterr().err


def test_folder_that_is_not_a_bundle_is_refused(tmp_path: Path, series_dir: Path, capsys):
    assert run_infer(series_dir, tmp_path, tmp_path / "out") == 2
    assert "not a MONAI bundle" in capsys.readouterr().err


def test_infer_on_a_seeded_phantom_gives_a_seg_on_the_scan_grid(tmp_path: Path, tiny_bundle: Path):
    from containers.common.bundle import load_bundle, save_bundle
    from xnat_plugin.sandbox.seed.ct_series import write_ct_series
    from xnat_plugin.sandbox.seed.phantom import make_phantom

    # SITE_A numbers its instances head first: slice order must come from positions.
    phantom = make_phantom(3, "SITE_A", matrix=48, slices=16)
    write_ct_series(phantom, tmp_path / "scan")
    # A coarse model grid (the phantom's 6 × 6 × 12.5 mm voxels → 8 mm) keeps CPU time small.
    bundle = load_bundle(tiny_bundle)
    coarse = bundle.spec.model_copy(update={"spacing": (8.0, 8.0, 8.0)})
    model = save_bundle(tmp_path / "coarse", coarse, bundle.state_dicts)
    assert run_infer(tmp_path / "scan", model, tmp_path / "out", *xnat_arguments("CT1")) == 0
    series = read_series(tmp_path / "scan")
    (seg_file,) = (tmp_path / "out" / "SEG").iterdir()
    label_map = read_seg(seg_file, series).array
    nifti = np.asarray(nib.load(next((tmp_path / "out" / "NIFTI").iterdir())).dataobj)
    np.testing.assert_array_equal(label_map, nifti)
    assert label_map.shape == phantom.hu.shape[::-1]


def test_cuda_asked_for_without_a_gpu_is_refused(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path, capsys
):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the refusal cannot happen")
    assert run_infer(series_dir, tiny_bundle, tmp_path / "out", "--device", "cuda") == 2
    assert "no CUDA GPU is visible" in capsys.readouterr().err
