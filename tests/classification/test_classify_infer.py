"""`python -m containers.classify infer` on seeded liver-lesion sessions: class probabilities that
sum to 1 written as an `xnat:qcAssessmentData` XNAT's own schema accepts (the ID by the assessor
ID rule, `xnat_plugin.assessors.assessor_id`), a report, and a Grad-CAM explanation as a PNG
and as a DICOM Secondary Capture series that references the source series; a scan the model
cannot read is refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from PIL import Image
from pydicom.uid import SecondaryCaptureImageStorage

from containers.classify.__main__ import main
from containers.classify.explain import LAST_CONV_LAYER, find_peak, target_layer, to_scan_grid
from containers.classify.infer import model_input, read_classifier_bundle
from containers.classify.networks import CLASSIFIER_NAMES, build_classifier
from containers.common.dicom_series import read_series
from tests.classification.lesion_cases import TINY, LesionCase, make_cases, train_bundle
from tests.conftest import reference_or_skip
from xnat_plugin.assessors.assessor_id import assessor_id
from xnat_plugin.assessors.qc_assessment import QcAssessment
from xnat_plugin.assessors.xsd import load_reference_schemas, validate, xsi_type_of
from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.seed.liver_lesion import CLASSES

SESSION, PROJECT = "XNAT_E00007", "CLS"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[LesionCase], Path]:
    """Four seeded sessions and a classifier trained on them for one epoch."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("classify-infer")
    cases = make_cases(root / "cases", 4)
    train_bundle(root / "models", "lesion_cls", cases, cases[:2], TINY)
    return cases, root / "models"


def infer_args(case: LesionCase, models: Path, output: Path, *extra: str) -> list[str]:
    return [
        "infer", "--session-id", SESSION, "--project", PROJECT, "--model-name", "lesion_cls",
        "--model", str(models), "--output", str(output), "--input", str(case.dicom_dir),
        "--scan-id", "2", "--session-label", case.label, "--device", "cpu", *extra,
    ]  # fmt: skip


def test_infer_writes_probabilities_an_assessor_xnat_accepts_and_an_explanation(
    seeded: tuple[list[LesionCase], Path], tmp_path: Path
) -> None:
    cases, models = seeded
    out = tmp_path / "out"
    assert main(infer_args(cases[0], models, out)) == 0

    report = json.loads((out / "REPORT" / "classification.json").read_text())
    probabilities = report["probabilities"]
    assert list(probabilities) == list(CLASSES)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert report["predicted_class"] == max(probabilities, key=probabilities.__getitem__)
    assert report["provenance"]["step"] == "classify-infer"
    assert report["explanation"]["layer"] == LAST_CONV_LAYER["EfficientNetB0"]

    # The assessor: XNAT's schema accepts it as sent; its ID follows the rule; it reads back.
    xml = (out / "assessor.xml").read_text()
    schemas = load_reference_schemas(reference_or_skip())
    assert validate(xml, schemas) == []
    assert xsi_type_of(xml, schemas) == "xnat:qcAssessmentData"
    assessor = QcAssessment.from_xml(xml)
    assert assessor.id == assessor_id(SESSION, PROJECT, report["assessor_label"])
    assert assessor.session_id == SESSION and assessor.project == PROJECT
    assert assessor.fields["predicted_class"] == report["predicted_class"]
    assert assessor.fields["model"] == "lesion_cls"
    (scan,) = assessor.scans
    assert scan.scan_id == "2"
    assert scan.statistics == {f"prob_{c}": pytest.approx(p) for c, p in probabilities.items()}

    # The explanation: a picture, and a Secondary Capture series on the source study.
    with Image.open(out / report["explanation"]["picture"]) as picture:
        assert picture.format == "PNG" and picture.width > 300
    source = read_series(cases[0].dicom_dir)
    files = [out / f for f in report["explanation"]["secondary_capture_files"]]
    assert len(files) == len(report["explanation"]["slices"]) >= 1
    for path in files:
        sc = pydicom.dcmread(path)
        assert sc.SOPClassUID == SecondaryCaptureImageStorage
        assert sc.PhotometricInterpretation == "RGB" and sc.pixel_array.shape[-1] == 3
        assert sc.StudyInstanceUID == source.study_instance_uid
        assert sc.SeriesInstanceUID == report["explanation"]["secondary_capture_series_uid"]
        assert sc.SeriesInstanceUID != source.series_instance_uid
        assert sc.ReferencedSeriesSequence[0].SeriesInstanceUID == source.series_instance_uid
        assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID in source.sop_instance_uids
        assert sc.FrameOfReferenceUID == source.frame_of_reference_uid
    # Nothing else: no staging folder left.
    assert sorted(p.name for p in out.iterdir()) == ["EXPLANATION", "REPORT", "assessor.xml"]


def test_a_fold_ensemble_averages_its_members_probabilities(
    seeded: tuple[list[LesionCase], Path], tmp_path: Path
) -> None:
    cases, models = seeded
    ensemble = tmp_path / "models"
    shutil.copytree(models / "lesion_cls", ensemble / "lesion_cls")
    weights = ensemble / "lesion_cls" / "models"
    state = torch.load(weights / "model.pt", weights_only=True)
    for fold, shift in ((0, 0.0), (1, 2.0)):
        (weights / f"fold_{fold}").mkdir()
        changed = {k: v.clone() for k, v in state.items()}
        changed["_fc.bias"][1] += shift  # the second member leans to the second class
        torch.save(changed, weights / f"fold_{fold}" / "model.pt")
    out = tmp_path / "out"
    assert main(infer_args(cases[1], ensemble, out)) == 0
    report = json.loads((out / "REPORT" / "classification.json").read_text())
    members = np.array(report["member_probabilities"])
    assert report["members"] == 2 and members.shape == (2, 2)
    assert members[1, 1] > members[0, 1]
    assert list(report["probabilities"].values()) == pytest.approx(members.mean(axis=0).tolist())


def test_a_scan_the_model_cannot_read_is_refused_in_one_line(
    seeded: tuple[list[LesionCase], Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cases, models = seeded
    mr = tmp_path / "mr"
    shutil.copytree(cases[0].dicom_dir, mr)
    for path in mr.iterdir():
        ds = pydicom.dcmread(path)
        ds.Modality = "MR"
        ds.save_as(path)
    out = tmp_path / "out"
    case = LesionCase(cases[0].label, mr, cases[0].cls, None, 0.0)
    assert main(infer_args(case, models, out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is MR, but model lesion_cls classifies CT" in err
    assert not out.exists() or not any(out.iterdir())


def test_a_bundle_that_is_no_classifier_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "seg"
    (folder / "configs").mkdir(parents=True)
    (folder / "configs" / "metadata.json").write_text(json.dumps({"version": "1"}))
    with pytest.raises(UserError, match="not a classifier from `classify train`"):
        read_classifier_bundle(folder)


def test_the_map_goes_back_onto_the_scan_where_the_network_saw_it(
    seeded: tuple[list[LesionCase], Path],
) -> None:
    """A bright spot in the scan: where it lies in the network input, carried through the
    input grid's affine (after resampling and the pad or crop), is where it lies in the scan."""
    cases, _ = seeded
    series = read_series(cases[1].dicom_dir)
    spot = (60, 30, 12)
    series.volume = np.full(series.shape, -1000.0, dtype=np.float32)
    series.volume[
        spot[0] - 2 : spot[0] + 3, spot[1] - 2 : spot[1] + 3, spot[2] - 1 : spot[2] + 2
    ] = 200
    image, affine = model_input(series, TINY)
    assert tuple(image.shape) == (1, *TINY.roi_size)
    index = np.unravel_index(int(torch.argmax(image[0])), image.shape[1:])
    where = affine @ np.array([*index, 1.0])
    expected = series.affine @ np.array([*spot, 1.0])
    assert np.linalg.norm(where[:3] - expected[:3]) <= np.linalg.norm(TINY.spacing)
    # A map that is the input itself peaks at the spot on the scan's grid.
    cam = image[0].numpy()
    on_scan = to_scan_grid(cam, affine, series.affine, series.shape)
    peak = find_peak(on_scan, series.affine)
    assert np.linalg.norm(np.array(peak.ras_mm) - expected[:3]) <= np.linalg.norm(TINY.spacing)
    assert peak.slices[0] == peak.voxel[2]


@pytest.mark.parametrize("name", CLASSIFIER_NAMES)
def test_grad_cam_reads_each_network_s_last_convolution(name: str) -> None:
    network = build_classifier(name, 2)
    convolutions = [k for k, m in network.named_modules() if isinstance(m, torch.nn.Conv3d)]
    assert target_layer(network, name) == LAST_CONV_LAYER[name] == convolutions[-1]
    assert target_layer(network, "SomeZooNetwork") == convolutions[-1]


def test_explain_layer_names_another_convolution_or_is_refused_in_one_line(
    seeded: tuple[list[LesionCase], Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cases, models = seeded
    finer = tmp_path / "finer"
    assert (
        main(infer_args(cases[0], models, finer, "--explain-layer", "_blocks.6.15._project_conv"))
        == 0
    )
    report = json.loads((finer / "REPORT" / "classification.json").read_text())
    assert report["explanation"]["layer"] == "_blocks.6.15._project_conv"
    capsys.readouterr()
    wrong = tmp_path / "wrong"
    assert main(infer_args(cases[0], models, wrong, "--explain-layer", "_fc")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--explain-layer '_fc' is no convolution" in err
    assert not wrong.exists() or not any(wrong.iterdir())
