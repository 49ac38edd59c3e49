"""`python -m containers.classify train` on the seeded classification task: classes from the
session field the seeding writes (`containers.common.class_labels`), a session without one
listed and left out, a few CPU epochs, and a MONAI bundle whose `channel_def` names the classes
(the model zoo's `network_data_format` convention)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from containers.classify.__main__ import main
from containers.classify.bundle_output import CLASSIFIER_KEY, class_names
from xnat_plugin.cli import main as cli_main
from xnat_plugin.client import connect, paths
from xnat_plugin.client.browse import list_files
from xnat_plugin.client.objects import create_session, ensure_subject
from xnat_plugin.sandbox.seed.clinical_series import AXIAL_DESCRIPTION_PATTERN
from xnat_plugin.sandbox.seed.liver_lesion import ABSENT, CLASS_FIELD, PRESENT

# Tiny inputs; the seeded sessions' axial series (the others are reconstructions of it).
TINY = [
    "--roi-size", "32,32,32", "--spacing", "9,9,6", "--batch-size", "4", "--device", "cpu",
    "--scan-description", AXIAL_DESCRIPTION_PATTERN,
]  # fmt: skip


def seed_classification(sandbox: Any, sessions: int = 8) -> None:
    code = cli_main(
        [
            "sandbox", "seed", "--xnat", sandbox.url, "--project", "CLS", "--sessions",
            str(sessions), "--sites", "2", "--seed", "3", "--task", "classification",
            "--no-reference", "--user", sandbox.user, "--password", sandbox.password,
        ]
    )  # fmt: skip
    assert code == 0


@pytest.mark.slow
def test_seeded_task_trains_end_to_end_into_a_bundle_named_by_its_classes(
    sandbox: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_classification(sandbox)
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        ensure_subject(client, "CLS", "SUBJ099")
        create_session(client, "CLS", "SUBJ099", "SUBJ099_CT1", fields={"site": "SITE_A"})
    # As the Container Service runs it: XNAT from the environment, the entry point's main.
    monkeypatch.setenv("XNAT_HOST", sandbox.url)
    monkeypatch.setenv("XNAT_USER", sandbox.user)
    monkeypatch.setenv("XNAT_PASS", sandbox.password)
    with caplog.at_level(logging.INFO, logger="containers.classify"):
        code = main(
            [
                "train", "--project", "CLS", "--model-name", "lesion_cls", "--output",
                str(tmp_path / "out"), "--label-field", CLASS_FIELD, "--network",
                "EfficientNetB0", "--epochs", "2", "--checkpoint-dir", str(tmp_path / "ckpt"),
                *TINY,
            ]
        )  # fmt: skip
    assert code == 0
    bundle = tmp_path / "out" / "lesion_cls"
    assert bundle.is_dir()
    assert "left out (no field 'diagnosis'): SUBJ099_CT1" in caplog.text
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert class_names(metadata) == sorted([ABSENT, PRESENT])
    pred = metadata["network_data_format"]["outputs"]["pred"]
    assert pred["num_channels"] == 2 and pred["format"] == "classes"
    record = metadata[CLASSIFIER_KEY]
    training = record["training"]
    assert training["left_out"] == [{"session": "SUBJ099_CT1", "reason": "no field 'diagnosis'"}]
    assert training["sessions_per_class"] == {ABSENT: 4, PRESENT: 4}
    assert training["epochs_run"] == 2
    assert record["preprocessing"]["roi_size"] == [32, 32, 32]
    # Every held-out session's class is held out: each fold validates on both classes.
    (fold,) = training["folds"]
    held_out = {d["session"]: d["class"] for d in training["data"]}
    assert {held_out[s] for s in fold["validation_sessions"]} == {ABSENT, PRESENT}
    assert not set(fold["validation_sessions"]) & set(training["split"]["training"]["sessions"])
    # The weights load into the network the bundle's own inference config names.
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    network = parser.get_parsed_content("network_def")
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)
    network.load_state_dict(state, strict=True)
    network.eval()
    with torch.no_grad():
        probabilities = torch.softmax(network(torch.zeros(1, 1, 32, 32, 32)), dim=1)
    assert probabilities.shape == (1, 2)
    report = json.loads((bundle / "report" / "training.json").read_text())
    sums = [sum(p) for p in report["folds"][0]["validation_probabilities"].values()]
    assert sums and all(abs(s - 1.0) < 1e-4 for s in sums)
    # Each epoch's checkpoint also went to the project resource MONAI_CHECKPOINTS.
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        stored = {f.path for f in list_files(client, paths.project("CLS"), "MONAI_CHECKPOINTS")}
    assert "lesion_cls/fold_0/last.pt" in stored
    # Nothing else in the output folder: the staging folder is gone.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["lesion_cls"]


def test_one_line_and_exit_2_on_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base = ["train", "--project", "P", "--model-name", "m", "--output", str(tmp_path / "o")]
    assert main([*base]) == 2
    assert "exactly one of --label-field" in capsys.readouterr().err
    assert main([*base, "--label-field", "diagnosis", "--roi-size", "32,32"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--roi-size '32,32' must be 3 numbers" in err
    assert main([*base, "--label-field", "diagnosis", "--roi-size", "32,32,16"]) == 2
    assert "at least 32 voxels" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
