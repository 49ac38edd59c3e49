"""`xnat-monai models add|list` against the sandbox: a bundle is checked (it loads, its
channel_def fits the network, a forward pass runs) before anything is uploaded, then lands in
MONAI_MODELS/<name>/ with a model card holding its checksums."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.monai_bundles import tiny_bundle, tiny_inference_config, tiny_metadata
from tests.zoo.test_bundle_trust import MARKER_SCRIPT
from xnat_plugin.cli import main
from xnat_plugin.client import connect
from xnat_plugin.client.browse import list_files
from xnat_plugin.client.objects import ensure_project
from xnat_plugin.models.layout import MODEL_CARD, code_checksum, weights_checksum


def _models(sandbox, *arguments: str) -> int:
    return main(
        ["models", *arguments, "--xnat", sandbox.url, "--project", "LIB",
         "--user", "admin", "--password", "admin"]
    )  # fmt: skip


def _remote_files(sandbox) -> list[str]:
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        return sorted(f.path for f in list_files(client, "/data/projects/LIB", "MONAI_MODELS"))


@pytest.fixture
def project(sandbox):
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        ensure_project(client, "LIB")
    return sandbox


@pytest.mark.slow  # two checks, each a child process that imports MONAI
def test_add_checks_uploads_with_a_card_and_list_shows_it(project, tmp_path: Path, capsys) -> None:
    bundle = tiny_bundle(tmp_path / "models", "organs", fmt="yaml", labels=["liver", "spleen"])
    assert _models(project, "add", str(bundle)) == 0
    out = capsys.readouterr().out
    assert "added organs to LIB/MONAI_MODELS" in out and code_checksum(bundle) in out
    assert "runs its own code" not in out

    files = _remote_files(project)
    assert f"organs/{MODEL_CARD}" in files and "organs/models/model.pt" in files
    assert "organs/configs/inference.yaml" in files
    with connect(project.url, project.user, project.password) as client:
        card = json.loads(
            client.get(
                f"/data/projects/LIB/resources/MONAI_MODELS/files/organs/{MODEL_CARD}"
            ).content
        )
    assert card["code_sha256"] == code_checksum(bundle)
    assert card["weights_sha256"] == weights_checksum(bundle)
    assert card["labels"] == {"liver": 1, "spleen": 2}
    assert card["forward_pass"]["output"][1] == 3

    # The same bundle zipped under another folder name, added under a name of its own.
    archive = tmp_path / "organs-v2.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in bundle.rglob("*"):
            if path.is_file():
                zipped.write(path, f"top/{path.relative_to(bundle).as_posix()}")
    assert _models(project, "add", str(archive), "--name", "organs2") == 0
    capsys.readouterr()
    assert _models(project, "list") == 0
    listing = capsys.readouterr().out
    assert "organs " in listing and "organs2" in listing and "liver, spleen" in listing
    assert code_checksum(bundle)[:16] in listing


@pytest.mark.slow  # three checks, each a child process that imports MONAI
def test_a_second_add_under_a_name_in_use_is_refused_and_replace_drops_stale_files(
    project, tmp_path: Path, caplog
) -> None:
    first = tiny_bundle(tmp_path / "a", "organs")
    (first / "models" / "fold_0").mkdir()
    (first / "models" / "fold_0" / "model.pt").write_bytes(
        (first / "models" / "model.pt").read_bytes()
    )
    assert _models(project, "add", str(first)) == 0
    second = tiny_bundle(tmp_path / "b", "organs", seed=5)
    assert _models(project, "add", str(second)) == 2
    assert "already has a model 'organs'" in caplog.text and "--replace" in caplog.text
    assert _models(project, "add", str(second), "--replace") == 0
    assert "organs/models/fold_0/model.pt" not in _remote_files(project)


@pytest.mark.slow  # the check imports MONAI in a child process
def test_a_bundle_that_does_not_fit_its_metadata_is_refused_before_any_upload(
    project, tmp_path: Path, caplog
) -> None:
    metadata = tiny_metadata(["liver", "spleen", "kidney"])  # four outputs named
    bundle = tiny_bundle(tmp_path / "m", "wrong", metadata=metadata, labels=["liver", "spleen"])
    assert _models(project, "add", str(bundle)) == 2
    assert "did not pass the check" in caplog.text and "gives 3 output channel(s)" in caplog.text
    with connect(project.url, project.user, project.password) as client:
        assert not client.exists("/data/projects/LIB/resources/MONAI_MODELS")


def test_a_zip_member_outside_the_bundle_is_refused(project, tmp_path: Path, caplog) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("configs/metadata.json", "{}")
        zipped.writestr("../../outside.txt", "x")
    assert _models(project, "add", str(archive)) == 2
    assert "points outside the bundle" in caplog.text
    assert not (tmp_path.parent / "outside.txt").exists()


@pytest.mark.slow  # the check imports MONAI in a child process
def test_a_bundle_with_code_is_added_unrun_and_flagged(project, tmp_path: Path, capsys) -> None:
    marker = tmp_path / "marker.txt"
    config = tiny_inference_config(3)
    config["preprocessing"]["transforms"].insert(
        0, {"_target_": "scripts.marker.TouchMarker", "path": str(marker)}
    )
    bundle = tiny_bundle(
        tmp_path / "m", "coded", config=config, scripts={"marker.py": MARKER_SCRIPT}
    )
    assert _models(project, "add", str(bundle)) == 0
    out = capsys.readouterr().out
    assert "runs its own code" in out and "scripts.marker.TouchMarker" in out
    assert not marker.exists()
    capsys.readouterr()
    assert _models(project, "list") == 0
    assert "(needs approval)" in capsys.readouterr().out
