"""The infer step's checks of hostile or broken input: each ends with one line and exit 2, no
traceback, nothing written. And who a step runs as inside its container."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from containers.common.model_folder import model_folder
from containers.infer.__main__ import main
from tests.imaging.dicom_factory import phantom_volume, write_ct_series
from xnat_plugin.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def _infer(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "containers.infer", *arguments],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip


def _one_refusal(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("infer:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("value", ["NaN", "inf", ""])
def test_a_slice_with_a_broken_image_position_is_refused_in_one_line(
    tmp_path: Path, tiny_bundle: Path, value: str
) -> None:
    paths = write_ct_series(tmp_path / "dicom", phantom_volume((32, 32, 8)))
    header = pydicom.dcmread(paths[3])
    header.ImagePositionPatient = [value, "0", "0"] if value else None
    header.save_as(paths[3])
    output = tmp_path / "out"
    line = _one_refusal(
        _infer(
            "--input", str(tmp_path / "dicom"), "--model", str(tiny_bundle), "--output", str(output)
        )
    )
    assert paths[3].name in line and "ImagePositionPatient" in line
    assert not output.exists() or list(output.iterdir()) == []


@pytest.mark.parametrize("spacing", [[0, 2, 2], [2, -1.5, 2], [2, 2, "NaN"]])
def test_a_bundle_with_zero_negative_or_nan_spacing_is_refused_in_one_line(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path, spacing: list[object]
) -> None:
    metadata_path = tiny_bundle / "configs" / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["xnat_monai"]["spacing"] = spacing
    metadata_path.write_text(json.dumps(metadata))
    output = tmp_path / "out"
    line = _one_refusal(
        _infer("--input", str(series_dir), "--model", str(tiny_bundle), "--output", str(output))
    )
    assert "spacing" in line and "positive" in line
    assert not output.exists() or list(output.iterdir()) == []


@pytest.mark.parametrize(
    "name",
    [
        "../../../OTHER/resources/MONAI_MODELS/x",
        "../tiny_unet",
        "/etc",
        "tiny_unet/..",
        "tiny' | touch MARKER #",
        "tiny\nx",
        "",
        ".",
    ],
)
def test_a_model_name_outside_xnats_label_rule_is_refused(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path, name: str
) -> None:
    output = tmp_path / "out"
    line = _one_refusal(
        _infer(
            "--input", str(series_dir), "--model", str(tiny_bundle.parent),
            "--model-name", name, "--output", str(output),
        )
    )  # fmt: skip
    assert "model name" in line
    assert not output.exists() or list(output.iterdir()) == []
    assert not (tmp_path / "MARKER").exists() and not (REPO / "MARKER").exists()


def test_a_model_is_found_by_name_inside_the_models_folder(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path
) -> None:
    arguments = ["--input", str(series_dir), "--model", str(tiny_bundle.parent)]
    assert main([*arguments, "--model-name", "tiny_unet", "--output", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "SEG").is_dir()


def test_a_model_folder_that_links_out_of_the_models_folder_is_refused(tmp_path: Path) -> None:
    models, elsewhere = tmp_path / "MONAI_MODELS", tmp_path / "OTHER"
    models.mkdir()
    (elsewhere / "private").mkdir(parents=True)
    (models / "shared").symlink_to(elsewhere / "private")
    with pytest.raises(UserError, match="link out of the models folder"):
        model_folder(models, "shared")
    with pytest.raises(UserError, match="no model 'absent'"):
        model_folder(models, "absent")


@pytest.fixture
def reachable_tmp() -> Iterator[Path]:
    """A folder any user can pass through (pytest's own are root's only)."""
    folder = Path(tempfile.mkdtemp(prefix="xnat-monai-run-as-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


RUN_AS = (
    "import os, sys; from pathlib import Path;"
    "from containers.common.run_as import run_as_output_owner;"
    "run_as_output_owner(Path(sys.argv[1]));"
    "print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())"
)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can become another user")
def test_started_as_root_a_step_becomes_the_owner_of_its_output_folder(
    reachable_tmp: Path,
) -> None:
    """As Container Service leaves it: XNAT's user owns the build folder, mode 0755
    (`CommandResolutionServiceImpl.getBuildDirectory`); the container starts as root."""
    output = reachable_tmp / "output"
    output.mkdir(mode=0o755)
    os.chown(output, 4242, 4343)
    done = subprocess.run(
        [sys.executable, "-c", RUN_AS, str(output)], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["4242", "4242", "4343", "[]"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can become another user")
def test_an_output_folder_its_owner_cannot_write_is_refused_in_one_line(
    reachable_tmp: Path,
) -> None:
    output = reachable_tmp / "output"
    output.mkdir(mode=0o555)
    os.chown(output, 4242, 4242)
    done = subprocess.run(
        [sys.executable, "-c", RUN_AS, str(output)], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode != 0
    assert "cannot write the output folder" in done.stderr
    assert "does not let even its owner write" in done.stderr


def test_train_refuses_a_model_name_that_would_leave_its_output_folder(tmp_path: Path) -> None:
    """The same rule and check as infer (`model_folder.check_model_name`): the bundle is written
    to OUTPUT/<model-name>/, so `../x` would write outside the build folder."""
    done = subprocess.run(
        [sys.executable, "-m", "containers.train", "--project", "P",
         "--model-name", "../../escaped", "--output", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "model name '../../escaped' is not valid" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path.parent / "escaped").exists()
