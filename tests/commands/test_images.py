"""The image build, checked without a Docker engine: label, build arguments, context, Dockerfile."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from xnat_plugin.commands.catalogue import STEPS
from xnat_plugin.commands.images import (
    CPU_TORCH_INDEX_URL,
    LABEL_BUILD_ARG,
    build_context,
    org_nrg_commands_label,
    plan_image_build,
)
from xnat_plugin.commands.render import render_command_json
from xnat_plugin.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMAND_JSON = REPO_ROOT / "command_json"
DOCKERFILE = REPO_ROOT / "docker/Dockerfile"


@pytest.mark.parametrize("cpu", [False, True], ids=["gpu", "cpu"])
@pytest.mark.parametrize("step", STEPS)
def test_label_build_arg_is_exactly_the_images_command_json_array(step: str, cpu: bool) -> None:
    plan = plan_image_build(step, cpu=cpu, command_json_dir=COMMAND_JSON)
    label = json.loads(plan.buildargs[LABEL_BUILD_ARG])
    file_name = f"xnat-monai-{step}{'-cpu' if cpu else ''}.json"
    assert isinstance(label, list)
    assert label == json.loads((COMMAND_JSON / file_name).read_text())
    assert "\n" not in plan.buildargs[LABEL_BUILD_ARG]
    assert plan.target == step
    assert plan.tag == label[0]["image"]


def test_cpu_build_takes_torch_from_the_cpu_index_on_a_python_base() -> None:
    plan = plan_image_build("infer", cpu=True, base_image="local/debian-py311:1")
    assert plan.buildargs["TORCH_INDEX_URL"] == CPU_TORCH_INDEX_URL
    assert plan.buildargs["BASE_IMAGE"] == "local/debian-py311:1"
    assert plan.buildargs["TORCH_VERSION"] == "2.13.0"
    assert plan.tag.endswith("-cpu")
    gpu = plan_image_build("infer")
    assert "BASE_IMAGE" not in gpu.buildargs and "TORCH_INDEX_URL" not in gpu.buildargs
    assert plan_image_build("infer", tag="site/infer:2").tag == "site/infer:2"


def test_the_build_stamps_the_image_reference_and_source_commit_for_provenance() -> None:
    plan = plan_image_build("evaluate", tag="site/evaluate:3", repo_root=REPO_ROOT)
    assert plan.buildargs["XNAT_MONAI_IMAGE"] == "site/evaluate:3"
    commit = plan.buildargs["XNAT_MONAI_SOURCE_COMMIT"]
    assert commit == "" or len(commit.split("+")[0]) == 40  # a clone without git: ''
    assert plan.buildargs["XNAT_MONAI_BUILT"][:2] == "20"
    dockerfile = DOCKERFILE.read_text()
    for name in ("XNAT_MONAI_IMAGE", "XNAT_MONAI_SOURCE_COMMIT", "XNAT_MONAI_BUILT"):
        assert dockerfile.count(f"ARG {name}") == len(STEPS)  # each step image sets it
        assert dockerfile.count(f"{name}=${{{name}}}") == len(STEPS)


def test_stale_command_json_is_refused_before_any_build(tmp_path: Path) -> None:
    render_command_json(tmp_path)
    path = tmp_path / "xnat-monai-train.json"
    path.write_text(path.read_text().replace('"UNet"', '"VNet"'))
    with pytest.raises(UserError, match="xnat-monai-train.json is stale"):
        plan_image_build("train", command_json_dir=tmp_path)


def test_label_of_a_file_that_is_not_an_array_is_refused(tmp_path: Path) -> None:
    single = tmp_path / "single.json"
    single.write_text('{"name": "x", "image": "a/b:1"}')
    with pytest.raises(UserError, match="JSON array"):
        org_nrg_commands_label(single)


def test_build_context_holds_only_what_the_dockerfile_copies(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "README.md", "docker/Dockerfile"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    for package in ("xnat_plugin", "containers"):
        (tmp_path / package / "__pycache__").mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"")
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    with tarfile.open(fileobj=build_context(tmp_path)) as tar:
        names = set(tar.getnames())
    assert {"pyproject.toml", "README.md", "docker/Dockerfile", "xnat_plugin/__init__.py"} <= names
    assert not [n for n in names if "__pycache__" in n or n.startswith(".venv")]


def test_dockerfile_has_a_target_per_step_each_labelled_from_the_build_arg() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG BASE_IMAGE=nvidia/cuda:13\.0", text, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\} AS base$", text, re.M)
    for step in STEPS:
        stage = text.split(f" AS {step}\n", 1)[1].split("\nFROM ", 1)[0]
        assert 'LABEL org.nrg.commands="${ORG_NRG_COMMANDS}"' in stage
        # No USER: Container Service's build folders belong to XNAT's uid, which differs per
        # site; the image starts as root and each step becomes the folder's owner (run_as).
        assert not re.search(r"^USER ", text, re.M)
    # torch pinned and installed before the package.
    assert text.index('"torch==${TORCH_VERSION}"') < text.index('pip install "$@" ".[steps]"')
    # torchvision (MONAI's RetinaNet: detection bundles) pinned to the release built against
    # that torch (its wheel requires torch==2.13.0), from the same index, in every branch.
    assert re.search(r"^ARG TORCHVISION_VERSION=0\.28\.0$", text, re.M)
    install = text.split("# torch first and pinned", 1)[1].split("\nWORKDIR", 1)[0]
    assert install.count('"torchvision==${TORCHVISION_VERSION}"') == 3


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_without_a_docker_engine_ends_in_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from xnat_plugin.cli import main

    # Nothing listens on the discard port of the loopback interface.
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    assert main(["images", "build", "--step", "infer", "--dir", str(COMMAND_JSON)]) == 2
    assert "no Docker engine answers" in caplog.text
