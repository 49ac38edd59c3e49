"""A training job killed mid-way and launched again continues from its last checkpoint."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.train.project_archive import write_project_archive

REPO = Path(__file__).resolve().parents[2]


def _command(project: Path, output: Path, checkpoints: Path) -> list[str]:
    return [
        sys.executable, "-m", "containers.train", "--project", "P", "--model-name", "resumed",
        "--output", str(output), "--project-dir", str(project), "--checkpoint-dir",
        str(checkpoints), "--epochs", "4", "--steps-per-epoch", "3", "--patch-size", "32,32,16",
        "--device", "cpu",
    ]  # fmt: skip


@pytest.mark.slow
def test_relaunch_after_a_kill_resumes_from_the_saved_epoch(tmp_path: Path) -> None:
    project = write_project_archive(tmp_path / "P", 3)
    checkpoints = tmp_path / "checkpoints"
    last = checkpoints / "resumed" / "fold_0" / "last.pt"
    first = subprocess.Popen(
        _command(project, tmp_path / "out1", checkpoints),
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while not last.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert last.exists(), "no checkpoint was written"
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=60)
    assert not (tmp_path / "out1" / "resumed").exists()

    second = subprocess.run(
        _command(project, tmp_path / "out2", checkpoints),
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip

    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming after epoch" in second.stderr
    report = json.loads((tmp_path / "out2" / "resumed" / "report" / "report.json").read_text())
    fold = report["folds"][0]
    assert fold["resumed_from_epoch"] >= 1
    assert fold["epochs_run"] == 4
    assert [e["epoch"] for e in report["history"]["fold_0"]] == [1, 2, 3, 4]
