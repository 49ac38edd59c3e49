"""The train step end to end on sandbox data: a bundle monai.bundle loads and infer uses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser

from containers.train.__main__ import main
from xnat_plugin.client import connect, paths
from xnat_plugin.client.browse import list_files
from xnat_plugin.sandbox.seed.clinical_series import AXIAL_DESCRIPTION_PATTERN
from xnat_plugin.sandbox.seed.seeding import seed_project

REPO = Path(__file__).resolve().parents[2]
FAST = ["--patch-size", "32,32,16", "--steps-per-epoch", "2", "--device", "cpu"]


@pytest.mark.slow
def test_two_epoch_run_over_rest_writes_a_bundle_that_monai_and_the_infer_step_use(
    sandbox: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox
    with connect(server.url, server.user, server.password) as client:  # type: ignore[attr-defined]
        seed_project(client, "TRAIN", 4, sites=2, seed=1, show_progress=False)
    monkeypatch.setenv("XNAT_HOST", server.url)  # type: ignore[attr-defined]
    monkeypatch.setenv("XNAT_USER", server.user)  # type: ignore[attr-defined]
    monkeypatch.setenv("XNAT_PASS", server.password)  # type: ignore[attr-defined]
    monkeypatch.setenv("XNAT_MONAI_IMAGE", "site/train:1.0")
    output = tmp_path / "output"

    # Two of the four sessions also hold a localizer and two reconstructions: the project's
    # scan rule (as infer's) picks the axial series the references are drawn on.
    code = main(
        ["--project", "TRAIN", "--model-name", "organs", "--output", str(output), "--epochs", "2"]
        + ["--scan-description", AXIAL_DESCRIPTION_PATTERN]
        + FAST
    )

    assert code == 0
    bundle = output / "organs"
    assert sorted(p.name for p in output.iterdir()) == ["organs"]
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    spec = metadata["xnat_monai"]
    assert spec["labels"] == {"liver": 1, "spleen": 2, "kidney": 3}
    assert spec["normalization"]["a_min"] < spec["normalization"]["a_max"]
    training = spec["training"]
    assert len(training["data"]) == 4
    assert all(len(row["sha256"]) == 64 for row in training["data"])
    assert all(row["uri"].startswith("/experiments/") for row in training["data"])
    assert training["image"]["reference"] == "site/train:1.0"
    assert training["provenance"]["wall_seconds"] > 0
    assert training["provenance"]["energy"]["joules"] > 0
    assert training["provenance"]["energy"]["parts"][0]["source"] in ("rapl", "estimate")
    assert training["folds"][0]["validation_sessions"]
    # What the model saw: every session is in training or validation, by label, ID and subject.
    split = training["split"]
    seen = set(split["training"]["sessions"]) | set(split["validation"]["sessions"])
    assert seen == {row["session"] for row in training["data"]}
    assert not set(split["training"]["subjects"]) & set(split["validation"]["subjects"])
    assert len(split["training"]["session_ids"]) == len(split["training"]["sessions"])
    card = (bundle / "docs" / "README.md").read_text()
    for field in (
        "| network | UNet,",
        "| training data | project TRAIN: 4 sessions",
        "| epochs | 2 of 2",
    ):
        assert field in card, card
    assert "| intended use | research" in card
    report = json.loads((bundle / "report" / "report.json").read_text())
    assert [e["epoch"] for e in report["history"]["fold_0"]] == [1, 2]
    for name in ("loss.png", "dice.png", "folds.md"):
        assert (bundle / "report" / name).stat().st_size > 0
    assert list((bundle / "report" / "tensorboard").rglob("events.out.tfevents.*"))

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser["bundle_root"] = str(bundle)
    network = parser.get_parsed_content("network_def")
    network.load_state_dict(torch.load(bundle / "models" / "model.pt", weights_only=True))
    assert network(torch.zeros(1, 1, 32, 32, 16)).shape == (1, 4, 32, 32, 16)

    with connect(server.url, server.user, server.password) as client:  # type: ignore[attr-defined]
        checkpoints = list_files(client, paths.project("TRAIN"), "MONAI_CHECKPOINTS")
    assert "organs/fold_0/last.pt" in {f.path for f in checkpoints}

    dicom = next((server.data_dir / "archive" / "TRAIN").glob("arc001/*/SCANS/2/DICOM"))  # type: ignore[attr-defined]
    infer_out = tmp_path / "infer"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "containers.infer",
            "--input",
            str(dicom),
            "--model",
            str(bundle),
            "--output",
            str(infer_out),
            "--device",
            "cpu",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert list((infer_out / "SEG").glob("*.dcm"))
