"""The runner's docker backend on a real Docker engine: the infer image's CPU variant, built
from docker/ on a registry-free Debian base (`.ci/docker-engine.sh start`), segments a sandbox
session with `network_mode="host"`, and the assessor arrives as with the process backend.

CI sets XNAT_MONAI_REQUIRE_DOCKER=1, so there this test fails, never skips, without an engine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest

from tests.bundles import tiny_bundle
from xnat_plugin.cli import main
from xnat_plugin.client import connect
from xnat_plugin.client.browse import list_assessors
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.sandbox.archive import archive_directory
from xnat_plugin.sandbox.seed.seeding import seed_project

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
COMMAND_FILE = REPO / "command_json" / "xnat-monai-infer-cpu.json"
WRAPPER = "monai-segment-session-cpu"


def _infer_image() -> str:
    return json.loads(COMMAND_FILE.read_text())[0]["image"]


@pytest.fixture(scope="module")
def docker_engine() -> object:
    """The engine, with the infer CPU image built; skips locally, fails in CI."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
        client.images.get(_infer_image())
    except Exception as exc:  # no engine, or the image is not built
        message = (
            f"no Docker engine with image {_infer_image()} ({type(exc).__name__}: {exc}); "
            "run `.ci/docker-engine.sh start` and export the DOCKER_HOST it prints"
        )
        if os.environ.get("XNAT_MONAI_REQUIRE_DOCKER"):
            pytest.fail(message)
        pytest.skip(message)
    return client


def _run(url: str, session_id: str, backend: str, workdir: Path) -> int:
    return main(
        [
            "run", "--xnat", url, "--user", "admin", "--password", "admin",
            "--wrapper", WRAPPER, "--target", f"/experiments/{session_id}",
            "--command-file", str(COMMAND_FILE), "--project", "DOCK",
            "--input", "model-name=tiny", "--backend", backend, "--workdir", str(workdir),
        ]
    )  # fmt: skip


def _seg_pixels(data_dir: Path, session_id: str, label: str) -> np.ndarray:
    folder = archive_directory(data_dir, f"/experiments/{session_id}/assessors/{label}")
    files = sorted((Path(folder) / "SEG").rglob("*.dcm"))
    assert len(files) == 1, files
    return hd.seg.segread(files[0]).get_volume().array


def test_docker_backend_segments_a_session_like_the_process_backend(
    docker_engine: object, sandbox, tmp_path: Path
) -> None:
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        (seeded,) = seed_project(
            client, "DOCK", 1, sites=1, seed=3, matrix=64, slices=24, show_progress=False
        )
        bundle = tiny_bundle(tmp_path / "models")
        upload_folder(client, "/data/projects/DOCK", "MONAI_MODELS", bundle.parent)

        assert _run(sandbox.url, seeded.session_id, "process", tmp_path / "process") == 0
        assert _run(sandbox.url, seeded.session_id, "docker", tmp_path / "docker") == 0

        ai = sorted(
            a.label
            for a in list_assessors(client, seeded.session_id)
            if a.xsi_type == "icr:roiCollectionData" and "_monai_" in a.label
        )
    assert len(ai) == 2, ai
    by_process, by_docker = (_seg_pixels(sandbox.data_dir, seeded.session_id, a) for a in ai)
    assert by_docker.shape == by_process.shape
    assert np.array_equal(by_docker, by_process)
