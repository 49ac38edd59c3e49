"""`python -m containers.infer` as a container runs it: the process ends as soon as its work is
done (no interpreter teardown), with every output in place, its exit code and its last line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.program_run import run_infer_program

REPO = Path(__file__).resolve().parents[2]


def infer_process(series_dir: Path, model: Path, output: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "containers.infer", "--input", str(series_dir),
         "--model", str(model), "--output", str(output), "--device", "cpu"],
        capture_output=True, text=True, cwd=REPO, timeout=600, check=False,
    )  # fmt: skip


def test_a_finished_process_leaves_every_output_and_exit_code_zero(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path
) -> None:
    done = infer_process(series_dir, tiny_bundle, tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "REPORT" / "report.json").read_text())
    assert report["timings"]["startup_wait_seconds"] >= 0
    assert list((tmp_path / "out" / "SEG").glob("*.dcm"))
    assert list((tmp_path / "out" / "NIFTI").glob("*.nii.gz"))
    assert (tmp_path / "out" / "REPORT" / "qc.png").stat().st_size > 0
    assert "done in" in done.stderr  # the log reached stderr before the process ended


def test_a_refused_run_keeps_its_exit_code_and_its_one_line(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path
) -> None:
    output = tmp_path / "out"
    output.mkdir()
    (output / "old.txt").write_text("x")
    done = infer_process(series_dir, tiny_bundle, output)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("infer: output folder")


def test_the_program_runs_our_bundle_on_a_monai_without_the_packages_it_does_not_use(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path
) -> None:
    """`python -m containers.infer` on our bundle. Its first lines
    (`containers.common.program.begin_program`), before its imports, pause the collector and
    import pydicom without `requests` (pydicom's `data.download` records it as missing); the
    background stages then import MONAI's networks without ignite, matplotlib, SciPy, requests,
    ... (`containers.common.monai_import`) and resume the collector with what loaded frozen.
    nibabel, which writes the NIfTI, looks for SciPy's top level itself (it imports the parts it
    uses lazily): none of SciPy's heavy parts loads. The module runs as `__main__` (runpy, as
    `-m` does); its last call, `os._exit`, reports the process' state."""
    from containers.common.monai_import import UNUSED_BY_NETWORKS

    argv = ["--input", str(series_dir), "--model", str(tiny_bundle),
            "--output", str(tmp_path / "out"), "--device", "cpu"]  # fmt: skip
    state = run_infer_program(argv)
    assert state.exit_code == 0
    modules = state.modules
    # The collector was on when the program started, paused from its first line, then resumed
    # with what loaded frozen.
    assert state.gc_at_start and state.gc_at_end and state.frozen > 100_000
    assert state.pydicom_has_requests is False
    assert {"torch", "monai.networks.nets.unet"} <= set(modules)
    unused = set(UNUSED_BY_NETWORKS) - {"scipy"}
    assert not [m for m in modules if m.partition(".")[0] in unused]
    assert not [
        m for m in modules if m.startswith(("scipy.signal", "scipy.ndimage", "scipy.stats"))
    ]
    assert list((tmp_path / "out" / "SEG").glob("*.dcm"))
