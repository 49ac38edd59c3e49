"""`python -m containers.detection infer | infer-session` with a detection bundle (the tiny one
of `detection_bundles`, the zoo's layout and config shape, random weights): every output, all
at once; the boxes are the bundle's own (its postprocessing gives the same boxes in LPS on an
axial series); the SR, the RTSTRUCT and the findings agree; refusals leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from containers.common.bundle_trust import TRUST_ENV
from containers.common.dicom_series import read_series
from containers.common.findings import read_findings
from containers.common.lesions import ScanFrame
from containers.common.rtstruct_reader import RTSTRUCT_SOP_CLASS
from containers.detection.__main__ import main
from tests.detection.detection_bundles import (
    as_cccwhd_lps,
    bundle_own_boxes,
    tiny_detection_bundle,
)
from tests.imaging.dicom_factory import SeriesGeometry, write_ct_series
from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.models.layout import code_checksum

XNAT = ["--session-id", "XNAT_E00001", "--project", "P1", "--subject", "XNAT_S00001",
        "--session-label", "S1_CT"]  # fmt: skip


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))  # sys.path is restored after a trusted run
    monkeypatch.setenv("XNAT_MONAI_TRUST_DIR", str(tmp_path / "no-trust"))
    folder = tiny_detection_bundle(tmp_path / "models" / "tiny_detector")
    monkeypatch.setenv(TRUST_ENV, code_checksum(folder))
    return folder


@pytest.fixture
def dicom(tmp_path: Path) -> Path:
    volume = np.full((40, 32, 12), -850, dtype=np.int16)
    volume[18:26, 12:19, 4:8] = 40
    write_ct_series(tmp_path / "DICOM", volume, SeriesGeometry(spacing=(1.0, 1.0, 2.5)))
    return tmp_path / "DICOM"


def test_infer_session_writes_every_output_from_the_bundles_own_boxes(
    bundle: Path, dicom: Path, tmp_path: Path
):
    out = tmp_path / "out"
    assert main(["infer-session", "--input", str(dicom), "--model", str(bundle),
                 "--output", str(out), "--device", "cpu", *XNAT]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == [
        "FINDINGS", "REPORT", "RTSTRUCT", "SR", "assessor.xml"
    ]  # fmt: skip
    series = read_series(dicom)
    frame = ScanFrame.of(series)
    findings = read_findings(out / "FINDINGS" / "findings.json")
    assert findings.series_instance_uid == series.series_instance_uid
    scores = findings.scores()
    assert 0 < len(scores) <= 12 and scores.min() >= 0.02  # the bundle's detector_ops
    assert np.all(np.diff(scores) <= 0)

    # The same boxes as the bundle's own postprocessing gives (axial: its two-corner world
    # conversion is exact here), in the same order.
    own = bundle_own_boxes(bundle, series)
    np.testing.assert_allclose(as_cccwhd_lps(findings.boxes(), frame), own, atol=1e-3)

    reported = findings.reported(0.5)
    report = json.loads((out / "REPORT" / "report.json").read_text())
    assert report["findings"] == len(scores)
    assert report["reported_findings"] == len(reported.findings)
    assert report["largest_finding_mm"] == pytest.approx(reported.largest_edge_mm(), abs=1e-3)
    assert report["provenance"]["model"]["code_sha256"] == code_checksum(bundle)
    assessor = RoiCollection.from_xml((out / "assessor.xml").read_text())
    assert assessor.label.startswith("S1_CT_monai_tiny_detector_")
    assert assessor.collection_type == "RTSTRUCT"
    assert assessor.series_uids == [series.series_instance_uid]
    assert assessor.fields["detection_findings"] == str(len(reported.findings))
    assert float(assessor.fields["detection_largest_finding_mm"]) == pytest.approx(
        reported.largest_edge_mm(), abs=1e-3
    )
    (rt_file,) = (out / "RTSTRUCT").iterdir()
    rt = pydicom.dcmread(rt_file)
    assert rt.SOPClassUID == RTSTRUCT_SOP_CLASS and rt.SOPInstanceUID == assessor.uid
    assert rt_file.stem == assessor.label
    (sr_file,) = (out / "SR").iterdir()
    sr = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(sr_file))
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == len(reported.findings)
    assert (out / "REPORT" / "detection.png").read_bytes()[:4] == b"\x89PNG"


def test_infer_local_mode_writes_no_assessor(bundle: Path, dicom: Path, tmp_path: Path):
    out = tmp_path / "out"
    assert main(["infer", "--input", str(dicom), "--model", str(bundle), "--output", str(out),
                 "--device", "cpu", "--threshold", "0", "--label", "lesion"]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["FINDINGS", "REPORT", "RTSTRUCT", "SR"]
    findings = read_findings(out / "FINDINGS" / "findings.json")
    report = json.loads((out / "REPORT" / "report.json").read_text())
    assert report["reported_findings"] == len(findings.findings)  # threshold 0: all
    assert {f.label for f in findings.findings} == {"lesion"}


def test_an_untrusted_detection_bundle_is_refused_before_anything_runs(
    bundle: Path, dicom: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.delenv(TRUST_ENV)
    out = tmp_path / "out"
    assert main(["infer", "--input", str(dicom), "--model", str(bundle), "--output", str(out)]) == 2
    error = [x for x in capsys.readouterr().err.splitlines() if x.startswith("detection: ")]
    assert len(error) == 1
    assert code_checksum(bundle) in error[0]
    assert not out.exists() or list(out.iterdir()) == []


def test_a_segmentation_bundle_is_not_a_detection_bundle(
    bundle: Path, dicom: Path, tmp_path: Path, capsys
):
    config = bundle / "configs" / "inference.json"
    data = json.loads(config.read_text())
    del data["detector_ops"]
    config.write_text(json.dumps(data))
    assert main(["infer", "--input", str(dicom), "--model", str(bundle),
                 "--output", str(tmp_path / "out")]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert "has no detector_ops" in error and "detection workflow" in error


def test_incomplete_xnat_arguments_are_refused(bundle: Path, dicom: Path, tmp_path: Path, capsys):
    assert main(["infer-session", "--input", str(dicom), "--model", str(bundle), "--output",
                 str(tmp_path / "out"), *XNAT[:2], "--project", "P1", "--subject", "",
                 "--session-label", "S1"]) == 2  # fmt: skip
    assert "--subject missing" in capsys.readouterr().err
