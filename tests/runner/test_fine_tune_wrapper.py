"""Fine-tuning through `xnat-monai run` (process backend): the train wrapper with `init-from`
naming a MONAI bundle in the project's MONAI_MODELS.

The step gets the parent over REST with the job's `XNAT_HOST`/`XNAT_USER`/`XNAT_PASS`, as a
Container Service job does (the service puts them in every container's environment, the
password an alias token: `ContainerServiceImpl.getDefaultEnvironmentVariablesForLaunch`),
since the train command mounts only the project's sessions. The tuned bundle lands in the same
MONAI_MODELS and records its parent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.monai_bundles import tiny_bundle
from tests.runner.test_train_wrapper import PROJECT, REPO, add_session_over_rest
from xnat_plugin.client import connect, paths
from xnat_plugin.client.browse import list_files
from xnat_plugin.client.objects import ensure_project
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.models.layout import code_checksum, weights_checksum
from xnat_plugin.runner.xnat_rest import XnatRest


@pytest.mark.slow
def test_the_train_wrapper_fine_tunes_a_bundle_from_monai_models_through_xnat_monai_run(
    sandbox: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from xnat_plugin.cli import main

    # A model-zoo style bundle (its own config and label names, random weights).
    parent = tiny_bundle(tmp_path / "zoo", "abdomen_zoo", labels=["Spleen", "pancreas"], seed=7)
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        ensure_project(client, PROJECT)
        sessions = [add_session_over_rest(client, index) for index in (1, 2)]
        upload_folder(client, paths.project(PROJECT), "MONAI_MODELS", parent.parent,
                      show_progress=False)  # fmt: skip
    train_command, _classifier = json.loads(
        (REPO / "command_json" / "xnat-monai-train-cpu.json").read_text()
    )
    XnatRest(sandbox.url, sandbox.user, sandbox.password).post(
        "/xapi/commands",
        body=json.dumps(train_command),
        headers={"Content-Type": "application/json"},
    )

    code = main(
        [
            "run", "--xnat", sandbox.url, "--user", sandbox.user, "--password", sandbox.password,
            "--wrapper", "monai-train-project-cpu", "--target", f"/projects/{PROJECT}",
            "--input", "model-name=tuned", "--input", "init-from=abdomen_zoo",
            "--input", "epochs=1", "--input", "folds=1", "--input", "patch-size=32,32,16",
            "--workdir", str(tmp_path / "runs"),
        ]
    )  # fmt: skip

    summary = json.loads(capsys.readouterr().out)
    workdir = Path(summary["workdir"])
    stderr = (workdir / "logs" / "stderr.log").read_text() if code else ""
    assert code == 0, stderr[-3000:]
    assert summary["status"] == "Complete"
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        stored = {f.path for f in list_files(client, paths.project(PROJECT), "MONAI_MODELS")}
    assert {"tuned/configs/metadata.json", "tuned/models/model.pt"} <= stored
    assert "abdomen_zoo/models/model.pt" in stored  # the parent stays as it was

    metadata = json.loads(
        (workdir / "staging/mounts/output/tuned/configs/metadata.json").read_text()
    )
    spec = metadata["xnat_monai"]
    assert spec["labels"] == {"Spleen": 1, "pancreas": 2}  # the parent's channels
    assert spec["network"]["name"] == "UNet" and spec["network"]["kwargs"]["channels"] == [4, 8]
    record = spec["training"]["parent"]
    assert (record["name"], record["kind"]) == ("abdomen_zoo", "MONAI bundle")
    assert record["label_mapping"] == {"spleen": "Spleen"}
    assert record["channels_without_references"] == ["pancreas"]
    # The parent read back over REST is the one uploaded, byte for byte.
    assert record["code_sha256"] == code_checksum(parent)
    assert record["weights_sha256"] == weights_checksum(parent)
    trained_on = {row["session"] for row in spec["training"]["data"]}
    assert trained_on == set(sessions)
