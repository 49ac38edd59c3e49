"""The infer step runs MONAI bundles it did not write, from bundles written here (JSON and YAML):
their own pipeline (containers.infer.bundle_run), their label names and codes in the SEG, the
same label map as `monai.bundle run`, several scans for several channels, overlapping segments,
and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest

from containers.common.dicom_series import read_series
from containers.common.nifti_io import write_nifti
from containers.infer.__main__ import main
from containers.infer.channels import SessionScan, choose_channel_scans, parse_channel_patterns
from tests.imaging.dicom_factory import SeriesGeometry, phantom_volume, write_ct_series
from tests.infer.conftest import xnat_arguments
from tests.monai_bundles import (
    calibrated_weights,
    run_monai_bundle,
    tiny_bundle,
    tiny_inference_config,
    tiny_metadata,
)
from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.errors import UserError


@pytest.fixture
def series_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dicom"
    write_ct_series(folder, phantom_volume((28, 24, 14)), SeriesGeometry(spacing=(1.6, 1.7, 2.5)))
    return folder


def _infer(series: Path, bundle: Path, output: Path, *extra: str) -> int:
    return main(["--input", str(series), "--model", str(bundle), "--output", str(output), *extra])


def _error_line(capsys) -> str:
    """The step's one line (log lines go to stderr too)."""
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("infer: ")]
    assert len(lines) == 1, lines
    return lines[0]


def _segments(seg_file: Path) -> list[tuple[str, str, str]]:
    seg = pydicom.dcmread(seg_file)
    return [
        (
            s.SegmentLabel,
            s.SegmentedPropertyTypeCodeSequence[0].CodeValue,
            s.SegmentedPropertyTypeCodeSequence[0].CodeMeaning,
        )
        for s in seg.SegmentSequence
    ]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_bundle_runs_unchanged_with_its_label_names_and_codes(
    tmp_path: Path, series_dir: Path, fmt: str
) -> None:
    bundle = tiny_bundle(tmp_path / "models", fmt=fmt, labels=["liver", "category 2"])
    output = tmp_path / "out"
    assert _infer(series_dir, bundle, output, *xnat_arguments()) == 0

    (seg_file,) = (output / "SEG").iterdir()
    assert _segments(seg_file) == [
        ("liver", "10200004", "Liver"),
        ("category 2", "85756007", "Tissue"),  # unknown anatomy: the generic pair, exactly
    ]
    report = json.loads((output / "REPORT" / "report.json").read_text())
    assert report["pipeline"] == "bundle"
    assert report["provenance"]["model"]["trust"].startswith("declarative")
    assert sorted(report["labels"]) == ["category 2", "liver"]
    label_map = np.asarray(nib.load(next((output / "NIFTI").iterdir())).dataobj)
    assert label_map.shape == read_series(series_dir).shape
    assert report["labels"]["liver"]["voxels"] == int(np.count_nonzero(label_map == 1))
    assessor = RoiCollection.from_xml((output / "assessor.xml").read_text())
    assert assessor.uid == pydicom.dcmread(seg_file).SOPInstanceUID


def test_label_map_matches_monai_bundle_run_on_the_same_nifti(
    tmp_path: Path, series_dir: Path
) -> None:
    """`python -m monai.bundle run` on the NIfTI the step stages gives the same labels, with
    weights whose label map is not trivial (every class on a real share of the scan)."""
    bundle = tiny_bundle(tmp_path / "models", labels=["liver", "spleen"], seed=3)
    series = read_series(series_dir)
    image = write_nifti(tmp_path / "staged" / "image.nii", series.volume, series.affine)
    assert calibrated_weights(bundle, image) == pytest.approx([1 / 3] * 3, abs=0.02)
    assert _infer(series_dir, bundle, tmp_path / "out") == 0
    ours = np.asarray(nib.load(next((tmp_path / "out" / "NIFTI").iterdir())).dataobj)

    written = run_monai_bundle(
        bundle, image, tmp_path / "monai", {"dataset_dir": str(image.parent)}
    )
    theirs = np.rint(np.asarray(nib.load(written).dataobj)).astype(np.uint8)
    assert theirs.shape == ours.shape
    shares = np.bincount(theirs.ravel(), minlength=3) / theirs.size
    assert shares.min() >= 0.15, shares  # no class almost everywhere, none almost nowhere
    assert np.mean(theirs == ours) >= 0.999


def _sigmoid_two_channel_bundle(folder: Path) -> Path:
    """Two MR channels in, two overlapping sigmoid masks out, which its postprocessing then
    merges into one map (as BraTS merges its three regions into labels 1/2/4)."""
    config = tiny_inference_config(2, in_channels=2)
    config["preprocessing"]["transforms"] = [
        {"_target_": "LoadImaged", "keys": "image"},
        {"_target_": "NormalizeIntensityd", "keys": "image", "channel_wise": True},
    ]
    config["postprocessing"]["transforms"] = [
        {"_target_": "Activationsd", "keys": "pred", "sigmoid": True},
        {"_target_": "AsDiscreted", "keys": "pred", "threshold": 0.5},
        {"_target_": "AsDiscreted", "keys": "pred", "argmax": True},
    ]
    metadata = tiny_metadata(["Whole tumor", "edema"], channels=["T1", "FLAIR"], background=False)
    return tiny_bundle(folder, "two_channels", config=config, metadata=metadata, seed=2)


def _mr_session(root: Path) -> Path:
    shape = (24, 24, 16)
    write_ct_series(root / "SCANS" / "1" / "DICOM", phantom_volume(shape, 1) + 1100,
                    modality="MR", series_description="localizer")  # fmt: skip
    write_ct_series(root / "SCANS" / "3" / "DICOM", phantom_volume(shape, 2) + 1100,
                    modality="MR", series_description="AX T1 pre")  # fmt: skip
    tilted = SeriesGeometry(spacing=(1.1, 1.0, 2.0))  # another grid: resampled onto the first
    write_ct_series(root / "SCANS" / "4" / "DICOM", phantom_volume(shape, 3) + 1100, tilted,
                    modality="MR", series_description="Ax FLAIR")  # fmt: skip
    return root


def test_several_scans_feed_several_channels_and_masks_may_overlap(tmp_path: Path) -> None:
    bundle = _sigmoid_two_channel_bundle(tmp_path / "models")
    session = _mr_session(tmp_path / "session")
    output = tmp_path / "out"
    (tmp_path / "input").mkdir()
    code = _infer(
        tmp_path / "input", bundle, output, "--session-dir", str(session), *xnat_arguments()
    )
    assert code == 0

    report = json.loads((output / "REPORT" / "report.json").read_text())
    chosen = [(c["channel"], c["scan_id"], c["resampled_onto_first"]) for c in report["channels"]]
    assert chosen == [("T1", "3", False), ("FLAIR", "4", True)]
    assert report["overlapping_segments"] is True
    masks = np.asarray(nib.load(next((output / "NIFTI").iterdir())).dataobj)
    assert masks.shape == (24, 24, 16, 2)  # one 0/1 volume per segment, not the merged map
    assert [report["labels"][n]["voxels"] for n in ("Whole tumor", "edema")] == [
        int(masks[..., 0].sum()),
        int(masks[..., 1].sum()),
    ]
    (seg_file,) = (output / "SEG").iterdir()
    assert [s[0] for s in _segments(seg_file)] == ["Whole tumor", "edema"]
    seg = hd.seg.segread(seg_file)
    t1 = read_series(session / "SCANS" / "3" / "DICOM")
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == t1.series_instance_uid
    for number in (1, 2):  # each segment's frames are its own mask, overlaps kept
        frames = [f for f in seg.PerFrameFunctionalGroupsSequence
                  if f.SegmentIdentificationSequence[0].ReferencedSegmentNumber == number]  # fmt: skip
        assert len(frames) == int(masks[..., number - 1].any(axis=(0, 1)).sum())
    assessor = RoiCollection.from_xml((output / "assessor.xml").read_text())
    assert len(assessor.series_uids) == 2 and assessor.series_uids[0] == t1.series_instance_uid


def test_channel_scans_are_chosen_by_pattern_or_by_name_and_never_guessed() -> None:
    scans = [
        SessionScan("1", "AX T1 pre", Path("1")),
        SessionScan("2", "AX T1 post", Path("2")),
        SessionScan("3", "T2 FLAIR", Path("3")),
    ]
    channels = ("T1c", "FLAIR")
    patterns = parse_channel_patterns("t1c=*post*", channels)
    chosen = choose_channel_scans(scans, channels, patterns)
    assert [(c.channel, c.scan.scan_id, c.pattern) for c in chosen] == [
        ("T1c", "2", "*post*"),
        ("FLAIR", "3", "the word 'FLAIR'"),
    ]
    with pytest.raises(UserError, match=r"channel T1c: no scan matches the word 'T1c'"):
        choose_channel_scans(scans, channels, {})
    with pytest.raises(UserError, match=r"channel T1c: 2 scans match \*t1\*"):
        choose_channel_scans(scans, channels, {"T1c": "*t1*"})
    with pytest.raises(UserError, match="scan 3 matches both channel T1c and FLAIR"):
        choose_channel_scans(scans, channels, {"T1c": "*flair*"})
    with pytest.raises(UserError, match="not CHANNEL=PATTERN with a channel of the model"):
        parse_channel_patterns("T2=*t2*", channels)


def test_multi_channel_model_without_the_session_says_which_wrapper(
    tmp_path: Path, series_dir: Path, capsys
) -> None:
    bundle = _sigmoid_two_channel_bundle(tmp_path / "models")
    assert _infer(series_dir, bundle, tmp_path / "out") == 2
    assert "takes 2 input channels (T1, FLAIR)" in _error_line(capsys)


def test_bundle_written_for_another_monai_is_one_line_not_a_crash(
    tmp_path: Path, series_dir: Path, capsys
) -> None:
    bundle = tiny_bundle(tmp_path / "models")
    config_file = bundle / "configs" / "inference.json"
    config = json.loads(config_file.read_text())
    config["network_def"]["img_size"] = [96, 96, 96]  # an argument MONAI no longer takes
    config_file.write_text(json.dumps(config))
    assert _infer(series_dir, bundle, tmp_path / "out") == 2
    error = _error_line(capsys)
    assert "does not build on MONAI" in error and "img_size" in error and "network_def" in error


def test_weights_of_another_network_are_refused_in_one_line(
    tmp_path: Path, series_dir: Path, capsys
) -> None:
    bundle = tiny_bundle(tmp_path / "models", labels=["liver", "spleen"])
    other = tiny_bundle(tmp_path / "others", labels=["liver", "spleen", "kidney"])
    (bundle / "models" / "model.pt").write_bytes((other / "models" / "model.pt").read_bytes())
    assert _infer(series_dir, bundle, tmp_path / "out") == 2
    error = _error_line(capsys)
    assert "do not fit the bundle's network_def UNet" in error and "size mismatch" in error


def test_override_uses_monais_syntax_and_is_checked_like_the_config(
    tmp_path: Path, series_dir: Path, capsys
) -> None:
    bundle = tiny_bundle(tmp_path / "models")
    output = tmp_path / "out"
    assert _infer(series_dir, bundle, output, "--override", "inferer#roi_size=[8,8,8]") == 0
    report = json.loads((output / "REPORT" / "report.json").read_text())
    assert report["provenance"]["model"]["overrides"] == {"inferer#roi_size": [8, 8, 8]}
    assert report["timings"]["windows"] > 1
    code = _infer(
        series_dir, bundle, tmp_path / "out2", "--override", "inferer#roi_size=$__import__('os')"
    )
    assert code == 2 and "runs its own code" in _error_line(capsys)
