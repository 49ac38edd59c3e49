"""`xnat-monai commands render [--check]` and `commands validate` as a user runs them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from xnat_plugin.cli import main
from xnat_plugin.commands.catalogue import catalogue
from xnat_plugin.commands.model import load_commands
from xnat_plugin.commands.render import render_command_json, rendered_files, stale_command_json

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_render_writes_one_json_array_per_image_that_loads_back(tmp_path: Path) -> None:
    written = render_command_json(tmp_path)
    assert sorted(p.name for p in written) == sorted(catalogue())
    for name, commands in catalogue().items():
        data = json.loads((tmp_path / name).read_text())
        assert isinstance(data, list)
        assert load_commands(tmp_path / name) == commands
    assert render_command_json(tmp_path) == []  # second run: nothing changes


def test_check_names_the_stale_and_the_missing_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    render_command_json(tmp_path)
    assert main(["commands", "render", "--check", "--dir", str(tmp_path)]) == 0
    stale = tmp_path / "xnat-monai-infer.json"
    stale.write_text(stale.read_text().replace("MONAI_MODELS", "MODELS"))
    (tmp_path / "xnat-monai-train-cpu.json").unlink()
    caplog.set_level(logging.ERROR)
    assert main(["commands", "render", "--check", "--dir", str(tmp_path)]) == 1
    assert f"{stale} is stale" in caplog.text
    assert "xnat-monai-train-cpu.json is missing" in caplog.text
    assert len(stale_command_json(tmp_path)) == 2


def test_the_committed_command_json_is_what_the_catalogue_renders() -> None:
    assert stale_command_json(REPO_ROOT / "command_json") == []
    for name, text in rendered_files().items():
        assert (REPO_ROOT / "command_json" / name).read_text() == text


def test_validate_verb_fails_on_bad_command_and_passes_a_good_one(
    caplog: pytest.LogCaptureFixture, reference_dir: Path
) -> None:
    examples = reference_dir / "container-service-commands"
    caplog.set_level(logging.INFO)
    assert main(["commands", "validate", str(examples / "bad-command.json")]) == 1
    assert "hello-world1: INVALID (8 errors" in caplog.text
    assert main(["commands", "validate", str(examples / "cmdTmp.json")]) == 0
    assert main(["commands", "validate", "--strict", str(examples / "params-command.json")]) == 1


def test_validate_verb_reports_unreadable_json_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x",')
    assert main(["commands", "validate", str(broken)]) == 2
    assert f"{broken}: not valid JSON" in caplog.text
