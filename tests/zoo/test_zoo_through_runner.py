"""Each model-zoo segmentation bundle, unchanged but for random weights, from a sandbox session
to a SEG assessor whose segments are the bundle's label names: `xnat-monai run` resolves the
infer command's wrapper against the session, stages its mounts and runs the step (process
backend), then uploads the assessor and its resources, as the Container Service does.

BraTS takes its four scans through the wrapper that mounts the whole session; its code (a
lambda in its postprocessing) runs because the command's environment lists its checksum, as
an admin sets it in the command definition."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from containers.common.bundle_trust import TRUST_ENV
from tests.imaging.dicom_factory import SeriesGeometry, phantom_volume, write_ct_series
from tests.monai_bundles import zoo_bundle
from xnat_plugin.cli import main
from xnat_plugin.client import browse, connect
from xnat_plugin.client.objects import ensure_project
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.models.layout import code_checksum
from xnat_plugin.sandbox.archive import archive_directory
from xnat_plugin.sandbox.seed.importing import upload_dicom_zip, zip_folder

REPO = Path(__file__).resolve().parents[2]
COMMAND_FILE = REPO / "command_json" / "xnat-monai-infer-cpu.json"
ROI = "inferer::roi_size=[32,32,32]"

# bundle → scans (series description, shape, spacing mm, modality), the wrapper, its inputs
CASES = {
    "spleen_ct_segmentation": (
        [("abdomen", (40, 36, 20), (1.5, 1.5, 2.0), "CT")],
        "monai-segment-session-cpu",
        {"bundle-overrides": ROI},
        ["spleen"],
    ),
    "segmentation_template": (
        [("spheres", (32, 32, 24), (1.0, 1.0, 1.0), "MR")],
        "monai-segment-session-cpu",
        {},
        ["category 1", "category 2", "category 3"],
    ),
    "prostate_mri_anatomy": (
        [("T2 AX", (28, 26, 18), (0.6, 0.6, 0.6), "MR")],
        "monai-segment-session-cpu",
        {"bundle-overrides": ROI},
        ["central gland", "peripheral zone"],
    ),
    "brats_mri_segmentation": (
        [
            ("AX T1C POST", (32, 32, 24), (1.0, 1.0, 1.0), "MR"),
            ("AX T1", (32, 32, 24), (1.0, 1.0, 1.0), "MR"),
            ("T2 FSE", (30, 30, 20), (1.1, 1.1, 1.2), "MR"),
            ("AX FLAIR", (32, 32, 24), (1.0, 1.0, 1.0), "MR"),
        ],
        "monai-segment-session-scans-cpu",
        {"bundle-overrides": ROI},
        ["Tumor core", "Whole tumor", "Enhancing tumor"],
    ),
}


def _import_session(client: object, project: str, scans: list, folder: Path) -> str:
    """One study with these series (scan IDs 1, 2, …) through XNAT's import service."""
    study, frame = generate_uid(), generate_uid()
    for number, (description, shape, spacing, modality) in enumerate(scans, start=1):
        volume = phantom_volume(shape, number) + (0 if modality == "CT" else 1100)
        write_ct_series(folder / "dicom" / str(number), volume, SeriesGeometry(spacing=spacing),
                        study_uid=study, frame_uid=frame, modality=modality,
                        series_description=description, series_number=number)  # fmt: skip
    zipped = zip_folder(folder / "dicom", folder / "session.zip")
    uri = upload_dicom_zip(client, project, zipped, subject="SUBJ1", session="SESS1")  # type: ignore[arg-type]
    return uri.rstrip("/").split("/")[-1]


def _command_file(folder: Path, trusted: str | None) -> Path:
    """The infer commands, with the trust list in the environment when given (what an admin
    does by editing the command in XNAT)."""
    commands = json.loads(COMMAND_FILE.read_text())
    if trusted:
        for command in commands if isinstance(commands, list) else [commands]:
            command.setdefault("environment-variables", {})[TRUST_ENV] = trusted
    path = folder / "commands.json"
    path.write_text(json.dumps(commands))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_zoo_bundle_from_session_to_seg_assessor_through_the_runner(
    name: str, reference_dir: Path, sandbox, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv(TRUST_ENV, raising=False)
    monkeypatch.setenv("XNAT_MONAI_TRUST_DIR", str(tmp_path / "no-trust"))
    scans, wrapper, inputs, labels = CASES[name]
    bundle = zoo_bundle(reference_dir, name, tmp_path / "models")
    trusted = code_checksum(bundle) if name == "brats_mri_segmentation" else None
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        ensure_project(client, "ZOO")
        with tempfile.TemporaryDirectory() as scratch:
            session_id = _import_session(client, "ZOO", scans, Path(scratch))
        upload_folder(client, "/data/projects/ZOO", "MONAI_MODELS", bundle.parent,
                      show_progress=False)  # fmt: skip
        arguments = [
            "run", "--xnat", sandbox.url, "--user", "admin", "--password", "admin",
            "--wrapper", wrapper, "--target", f"/experiments/{session_id}",
            "--command-file", str(_command_file(tmp_path, trusted)), "--project", "ZOO",
            "--input", f"model-name={name}", "--workdir", str(tmp_path / "run"),
        ]  # fmt: skip
        for key, value in inputs.items():
            arguments += ["--input", f"{key}={value}"]
        assert main(arguments) == 0
        (assessor,) = [
            a for a in browse.list_assessors(client, session_id)
            if a.xsi_type == "icr:roiCollectionData"
        ]  # fmt: skip
    # Each resource's own folder: `xnat-monai run` uploads over REST, into ASSESSORS/<ID>/
    # (DirectAssessResourceImpl), not the label folder Container Service writes.
    assessor_uri = f"/experiments/{session_id}/assessors/{assessor.label}"

    def resource_folder(name: str) -> Path:
        return Path(archive_directory(sandbox.data_dir, f"{assessor_uri}/resources/{name}"))

    (seg_file,) = sorted(resource_folder("SEG").rglob("*.dcm"))
    seg = pydicom.dcmread(seg_file)
    assert [s.SegmentLabel for s in seg.SegmentSequence] == labels
    assert all(s.SegmentAlgorithmType == "AUTOMATIC" for s in seg.SegmentSequence)
    (report_file,) = sorted(resource_folder("REPORT").rglob("report.json"))
    report = json.loads(report_file.read_text())
    assert report["pipeline"] == "bundle"
    assert len(report["channels"]) == len(scans)
    if trusted:
        assert report["overlapping_segments"] is True
        assert [c["scan_id"] for c in report["channels"]] == ["1", "2", "3", "4"]
        assert [c["resampled_onto_first"] for c in report["channels"]] == [
            False,
            False,
            True,
            False,
        ]
    first_scan = Path(archive_directory(sandbox.data_dir, f"/experiments/{session_id}/scans/1"))
    first_uid = pydicom.dcmread(next((first_scan / "DICOM").iterdir())).SeriesInstanceUID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == first_uid
