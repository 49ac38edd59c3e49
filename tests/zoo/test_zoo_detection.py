"""The model zoo's lung_nodule_ct_detection (configs and scripts unchanged, random weights from
its network_def) through the detection infer mode on a small axial CT series; its boxes are the
ones the bundle's own postprocessing (MONAI's `AffineBoxToWorldCoordinated`, exact on an axial
series) gives for the same detector output.

MONAI builds the bundle's ResNet-FPN feature extractor with torchvision (`IntermediateLayerGetter`,
`_validate_trainable_layers`): where torchvision does not import (PyPI's torchvision wheels are
CUDA builds, which do not load beside a CPU build of torch), the test says so and skips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from containers.common.bundle_trust import TRUST_ENV
from containers.common.dicom_series import read_series
from containers.common.findings import read_findings
from containers.common.lesions import ScanFrame
from containers.detection.__main__ import main
from tests.detection.detection_bundles import (
    as_cccwhd_lps,
    bundle_own_boxes,
    random_detection_weights,
)
from tests.imaging.dicom_factory import SeriesGeometry, write_ct_series
from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.models.layout import code_checksum

NAME = "lung_nodule_ct_detection"
# Its inference.json expects LUNA16 images already resampled (its Spacingd is disabled unless
# `whether_raw_luna16`, which reads .mhd files through ITK): this enables its own Spacingd on the
# NIfTI the step stages. A window fits the small test scan.
OVERRIDES = {"preprocessing#transforms#4#_disabled_": False, "infer_patch_size": [64, 64, 32]}


def _torchvision_imports() -> bool:
    try:
        import torchvision.models  # noqa: F401
    except Exception:  # ImportError, or a RuntimeError of a build that does not load
        return False
    return True


def _torchvision_or_skip() -> None:
    try:
        import torchvision.models  # noqa: F401
    except Exception as exc:  # ImportError, or a RuntimeError of a build that does not load
        pytest.skip(
            f"torchvision does not import here ({type(exc).__name__}: {str(exc)[:80]}); MONAI's "
            "RetinaNet feature extractor needs it"
        )


@pytest.mark.slow
def test_zoo_detection_bundle_runs_through_infer_session(
    reference_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _torchvision_or_skip()
    monkeypatch.syspath_prepend(str(tmp_path))  # sys.path is restored after the trusted run
    bundle = tmp_path / "models" / NAME
    shutil.copytree(reference_dir / "monai-model-zoo" / NAME, bundle)
    random_detection_weights(bundle)
    monkeypatch.setenv(TRUST_ENV, code_checksum(bundle))
    monkeypatch.setenv("XNAT_MONAI_TRUST_DIR", str(tmp_path / "no-trust"))
    volume = np.full((48, 40, 14), -850, dtype=np.int16)
    volume[20:28, 16:23, 5:9] = 40  # a nodule
    dicom = tmp_path / "DICOM"
    write_ct_series(dicom, volume, SeriesGeometry(spacing=(1.0, 1.0, 2.5)))
    out = tmp_path / "out"
    overrides = [f"--override={k}={json.dumps(v)}" for k, v in OVERRIDES.items()]
    code = main(
        ["infer-session", "--input", str(dicom), "--model", str(bundle), "--output", str(out),
         *overrides, "--device", "cpu", "--session-id", "XNAT_E00001", "--project", "P1",
         "--subject", "XNAT_S00001", "--session-label", "S1_CT"]
    )  # fmt: skip
    assert code == 0
    series = read_series(dicom)
    findings = read_findings(out / "FINDINGS" / "findings.json")
    scores = findings.scores()
    assert 0 < len(scores) <= 300 and scores.min() >= 0.02  # its detector_ops
    own = bundle_own_boxes(bundle, series, OVERRIDES)
    np.testing.assert_allclose(
        as_cccwhd_lps(findings.boxes(), ScanFrame.of(series)), own, atol=1e-3
    )
    reported = findings.reported(0.5)
    assessor = RoiCollection.from_xml((out / "assessor.xml").read_text())
    assert assessor.fields["detection_findings"] == str(len(reported.findings))
    (sr_file,) = (out / "SR").iterdir()
    assert pydicom.dcmread(sr_file).SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"


def test_without_torchvision_the_zoo_detection_bundle_is_refused_in_one_line(
    reference_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Where torchvision does not import (this CPU environment, an image built without it), the
    step says which package the bundle's network needs (`bundle_pipeline._build`: MONAI's
    OptionalImportError is an ImportError), exits 2 and writes nothing; it does not blame the
    MONAI release."""
    if _torchvision_imports():
        pytest.skip("torchvision imports here: the bundle builds (the test above)")
    monkeypatch.syspath_prepend(str(tmp_path))
    bundle = tmp_path / "models" / NAME
    shutil.copytree(reference_dir / "monai-model-zoo" / NAME, bundle)
    monkeypatch.setenv(TRUST_ENV, code_checksum(bundle))
    monkeypatch.setenv("XNAT_MONAI_TRUST_DIR", str(tmp_path / "no-trust"))
    dicom = tmp_path / "DICOM"
    write_ct_series(dicom, np.full((16, 16, 4), -850, dtype=np.int16), SeriesGeometry())
    out = tmp_path / "out"
    code = main(["infer", "--input", str(dicom), "--model", str(bundle), "--output", str(out),
                 "--device", "cpu"])  # fmt: skip
    assert code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert "needs a package that does not import here" in line and "torchvision" in line
    assert "another MONAI release" not in line
    assert not out.exists() or not any(out.iterdir())
