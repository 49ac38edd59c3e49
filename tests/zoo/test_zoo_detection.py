"""The model zoo's lung_nodule_ct_detection (configs and scripts unchanged, random weights from
its network_def) through the detection infer mode, on a small axial CT series; its boxes are
compared with the bundle's own postprocessing (MONAI's `AffineBoxToWorldCoordinated`, exact on
an axial series) run on the same detector output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch

from containers.common.bundle_trust import TRUST_ENV
from containers.common.dicom_series import read_series
from containers.common.findings import read_findings
from containers.common.lesions import ScanFrame
from containers.common.rtstruct_reader import RTSTRUCT_SOP_CLASS
from containers.detection.__main__ import main
from tests.imaging.dicom_factory import SeriesGeometry, write_ct_series
from tests.monai_bundles import random_weights
from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.models.layout import code_checksum

NAME = "lung_nodule_ct_detection"
# The bundle's inference.json expects LUNA16 images already resampled (its Spacingd is disabled
# unless `whether_raw_luna16`, which reads .mhd through ITK): enable its own Spacingd on the NIfTI.
SPACING_ON = "preprocessing#transforms#4#_disabled_=false"
# MONAI's resnet_fpn_feature_extractor asks torchvision only to validate `trainable_layers`
# (5 without a pretrained backbone); torchvision's PyPI wheels are CUDA builds that do not import
# beside a CPU torch. The same feature extractor from MONAI's own FPN helper, without it:
# the same network, the same state dict.
WITHOUT_TORCHVISION = (
    "feature_extractor="
    "$monai.networks.blocks.backbone_fpn_utils._resnet_fpn_extractor(@backbone,3,5,[1,2],None)"
)


def _override(pair: str) -> dict[str, object]:
    key, _, value = pair.partition("=")
    return {key: {"false": False}.get(value, value)}


def _scored_weights(bundle: Path) -> None:
    """Random weights, with the classification head's prior bias (score 0.01 everywhere, below
    the detector's 0.02 score threshold) set to 0, so that random filters give a spread of
    scores around 0.5 and the detector keeps boxes."""
    path = bundle / "models" / "model.pt"
    state = torch.load(path, weights_only=True)
    (key,) = [k for k in state if k.endswith("cls_logits.bias")]
    state[key] = torch.zeros_like(state[key])
    torch.save(state, path)


@pytest.mark.slow
def test_zoo_detection_bundle_runs_through_infer_session(
    reference_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))  # sys.path is restored after the trusted run
    bundle = tmp_path / "models" / NAME
    shutil.copytree(reference_dir / "monai-model-zoo" / NAME, bundle)
    random_weights(bundle, overrides=_override(WITHOUT_TORCHVISION))
    _scored_weights(bundle)
    monkeypatch.setenv(TRUST_ENV, code_checksum(bundle))
    monkeypatch.setenv("XNAT_MONAI_TRUST_DIR", str(tmp_path / "no-trust"))
    volume = np.full((48, 40, 14), -850, dtype=np.int16)
    volume[20:28, 16:23, 5:9] = 40  # a nodule
    dicom = tmp_path / "DICOM"
    write_ct_series(dicom, volume, SeriesGeometry(spacing=(1.0, 1.0, 2.5)))
    out = tmp_path / "out"
    code = main(
        [
            "infer-session", "--input", str(dicom), "--model", str(bundle), "--output", str(out),
            "--override", SPACING_ON, "--override", WITHOUT_TORCHVISION, "--device", "cpu",
            "--session-id", "XNAT_E00001", "--project", "P1", "--subject", "XNAT_S00001",
            "--session-label", "S1_CT", "--assessor-label", "S1_CT_monai_nodules_1",
        ]
    )  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "FINDINGS", "REPORT", "RTSTRUCT", "SR", "assessor.xml"
    ]  # fmt: skip
    series = read_series(dicom)
    findings = read_findings(out / "FINDINGS" / "findings.json")
    assert findings.series_instance_uid == series.series_instance_uid
    assert 0 < len(findings.findings) <= 300  # the bundle's detections_per_img
    scores = findings.scores()
    assert np.all(np.diff(scores) <= 0) and scores.min() >= 0.02  # its score_thresh
    report = json.loads((out / "REPORT" / "report.json").read_text())
    reported = int(np.count_nonzero(scores >= 0.5))
    assert report["reported_findings"] == reported and report["findings"] == len(scores)
    assert report["provenance"]["model"]["code_sha256"] == code_checksum(bundle)
    assessor = RoiCollection.from_xml((out / "assessor.xml").read_text())
    assert assessor.collection_type == "RTSTRUCT"
    assert assessor.fields["detection_findings"] == str(reported)
    (rt_file,) = (out / "RTSTRUCT").iterdir()
    rt = pydicom.dcmread(rt_file)
    assert rt.SOPClassUID == RTSTRUCT_SOP_CLASS and rt.SOPInstanceUID == assessor.uid
    (sr_file,) = (out / "SR").iterdir()
    assert pydicom.dcmread(sr_file).SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"
    frame = ScanFrame.of(series)
    for box in findings.boxes():  # every box on the series (the detector clipped them)
        lo, hi = frame.index_of_mm(box[:3]), frame.index_of_mm(box[3:])
        assert np.all(lo >= -1.0) and np.all(hi <= np.asarray(series.shape) + 1.0)

    # The bundle's own postprocessing on its own detector's output: the same boxes in LPS.
    own = _bundle_own_boxes(bundle, series)
    ours = np.array(
        [np.concatenate([frame.to_lps(b[:3])[0], frame.to_lps(b[3:])[0]]) for b in findings.boxes()]
    )
    centres = (ours[:, :3] + ours[:, 3:]) / 2
    sizes = np.abs(ours[:, 3:] - ours[:, :3])
    assert own.shape == (len(ours), 6)
    np.testing.assert_allclose(own[:, :3], centres, atol=1e-3)
    np.testing.assert_allclose(own[:, 3:], sizes, atol=1e-3)


def _bundle_own_boxes(bundle: Path, series) -> np.ndarray:
    """cccwhd LPS boxes by the bundle's config alone: preprocessing, detector_ops, inferer,
    postprocessing (MONAI's ConfigParser, as `monai.bundle run` builds them)."""
    import sys

    from monai.bundle import ConfigParser

    from containers.infer.bundle_run import stage_channels

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser.update({"bundle_root": str(bundle), "device": "$torch.device('cpu')",
                   **_override(SPACING_ON), **_override(WITHOUT_TORCHVISION)})  # fmt: skip
    sys.path.insert(0, str(bundle))
    try:
        network = parser.get_parsed_content("network_def")
        network.load_state_dict(torch.load(bundle / "models" / "model.pt", weights_only=True))
        preprocessing = parser.get_parsed_content("preprocessing")
        parser.get_parsed_content("detector_ops")
        inferer = parser.get_parsed_content("inferer")
        postprocessing = parser.get_parsed_content("postprocessing")
        (staged,) = stage_channels([series.volume], [series.affine], bundle / "stage")
        item = preprocessing({"image": str(staged)})
        with torch.no_grad():
            (pred,) = inferer(item["image"][None], network.eval())
        out = postprocessing({**pred, "image": item["image"]})
    finally:
        sys.path.remove(str(bundle))
        for name in [n for n in sys.modules if n == "scripts" or n.startswith("scripts.")]:
            del sys.modules[name]
    return np.asarray(out["box"], dtype=np.float64)
