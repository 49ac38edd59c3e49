"""Build the step images with the Docker SDK, their `org.nrg.commands` label from command_json/.

Each image carries, in the label `org.nrg.commands`, exactly the JSON array of its
`command_json/` file (compacted to one line), passed as the build argument
`ORG_NRG_COMMANDS`. A build argument is substituted once and never re-expanded, so a `$` in a
command needs no escaping. The build context is made here from the files the images need
(pyproject, README, the two packages, the Dockerfile), so a local `.venv` is never sent.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from xnat_plugin.commands.catalogue import CPU, GPU, STEPS, command_json_name
from xnat_plugin.commands.render import rendered_files
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

DOCKERFILE = "docker/Dockerfile"
TORCH_VERSION = "2.13.0"
# PyPI's Linux torch wheels are CUDA builds; the CPU build takes torch from PyTorch's CPU index.
CPU_TORCH_INDEX_URL = "https://download.pytorch.org/whl/cpu"
# Any image with Python 3.11 will do (`--base-image`, e.g. a locally built Debian one).
CPU_BASE_IMAGE = "python:3.11-slim-bookworm"
CONTEXT_PATHS = ("pyproject.toml", "README.md", "xnat_plugin", "containers", DOCKERFILE)
# Where the Dockerfile looks for wheels from the build host (empty: pip uses its index).
WHEELHOUSE_IN_CONTEXT = "docker/wheelhouse"
LABEL_BUILD_ARG = "ORG_NRG_COMMANDS"
# What the build knows about the image, stamped into its environment for every step's provenance
# (containers/common/provenance.py reads them; the image's own digest cannot be stamped into it).
STAMP_BUILD_ARGS = ("XNAT_MONAI_IMAGE", "XNAT_MONAI_SOURCE_COMMIT", "XNAT_MONAI_BUILT")


@dataclass(frozen=True)
class ImageBuild:
    """Everything one `docker build` needs, decided without touching Docker."""

    step: str
    cpu: bool
    tag: str
    target: str
    buildargs: dict[str, str] = field(default_factory=dict)
    dockerfile: str = DOCKERFILE


def org_nrg_commands_label(command_json_file: Path) -> str:
    """The label value: the file's JSON array on one line. Refuses a file that is not an array
    or that differs from the catalogue (run `xnat-monai commands render` first)."""
    try:
        text = command_json_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(
            f"cannot read {command_json_file}: {exc.strerror}; run `xnat-monai commands render`"
        ) from exc
    expected = rendered_files().get(command_json_file.name)
    if expected is not None and text != expected:
        raise UserError(
            f"{command_json_file} is stale; run `xnat-monai commands render` before building"
        )
    commands = json.loads(text)
    if not isinstance(commands, list):
        raise UserError(f"{command_json_file} must hold a JSON array of commands")
    return json.dumps(commands, separators=(",", ":"), ensure_ascii=False)


def plan_image_build(
    step: str,
    *,
    cpu: bool = False,
    tag: str | None = None,
    base_image: str | None = None,
    command_json_dir: Path = Path("command_json"),
    repo_root: Path = Path("."),
) -> ImageBuild:
    """The tag, target and build arguments of one step image."""
    if step not in STEPS:
        raise UserError(f"unknown step {step!r}; choose one of {', '.join(STEPS)}")
    variant = CPU if cpu else GPU
    command_file = command_json_dir / command_json_name(step, variant)
    label = org_nrg_commands_label(command_file)
    images = {command.get("image") for command in json.loads(label)}
    if tag is None:
        if len(images) != 1 or None in images:
            raise UserError(f"{command_file}: its commands must name one image; pass --tag")
        tag = str(images.pop())
    buildargs = {LABEL_BUILD_ARG: label, "TORCH_VERSION": TORCH_VERSION}
    stamp = (tag, source_commit(repo_root), dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    buildargs.update(zip(STAMP_BUILD_ARGS, stamp, strict=True))
    if cpu:
        buildargs["TORCH_INDEX_URL"] = CPU_TORCH_INDEX_URL
        buildargs["BASE_IMAGE"] = base_image or CPU_BASE_IMAGE
    elif base_image:
        buildargs["BASE_IMAGE"] = base_image
    return ImageBuild(step=step, cpu=cpu, tag=tag, target=step, buildargs=buildargs)


def source_commit(repo_root: Path) -> str:
    """The git commit the image is built from (`+modified` when the tree differs), else ''."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo_root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(repo_root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{commit}+modified" if changed else commit


def build_context(repo_root: Path, wheelhouse: Path | None = None) -> io.BytesIO:
    """A tar of the files the Dockerfile copies (no caches, no virtualenv), with the wheels of
    `wheelhouse` under docker/wheelhouse (an empty folder when there is none)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        if wheelhouse is None:
            folder = tarfile.TarInfo(WHEELHOUSE_IN_CONTEXT)
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(folder)
        elif not any(Path(wheelhouse).glob("*")):
            raise UserError(f"--wheelhouse {wheelhouse} holds no wheels: fill it with pip download")
        else:
            tar.add(wheelhouse, arcname=WHEELHOUSE_IN_CONTEXT)
        for name in CONTEXT_PATHS:
            path = repo_root / name
            if not path.exists():
                raise UserError(f"{path} is missing; build from the repository root")
            tar.add(path, arcname=name, filter=_skip_caches)
    buffer.seek(0)
    return buffer


def _skip_caches(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = Path(info.name).parts
    if "__pycache__" in parts or info.name.endswith((".pyc", ".pyo")):
        return None
    return info


def build_images(
    steps: list[str],
    *,
    cpu: bool = False,
    tag: str | None = None,
    base_image: str | None = None,
    command_json_dir: Path = Path("command_json"),
    repo_root: Path = Path("."),
    wheelhouse: Path | None = None,
) -> list[str]:
    """Build each step's image with the Docker engine; returns the tags built."""
    from docker.errors import APIError, BuildError, DockerException
    from rich.console import Console

    import docker

    plans = [
        plan_image_build(
            step,
            cpu=cpu,
            tag=tag,
            base_image=base_image,
            command_json_dir=command_json_dir,
            repo_root=repo_root,
        )
        for step in steps
    ]
    try:
        client = docker.from_env()  # type: ignore[attr-defined]  # repo-root docker/ shadows it for mypy
        client.ping()
    except DockerException as exc:
        raise UserError(
            f"no Docker engine answers ({exc}); start Docker or set DOCKER_HOST"
        ) from exc
    built = []
    console = Console(stderr=True)
    for plan in plans:
        with console.status(f"building {plan.tag} (target {plan.target}) …"):
            try:
                _, build_log = client.images.build(
                    fileobj=build_context(repo_root, wheelhouse),
                    custom_context=True,
                    dockerfile=plan.dockerfile,
                    target=plan.target,
                    tag=plan.tag,
                    buildargs=plan.buildargs,
                    network_mode="host",
                    rm=True,
                )
            except BuildError as exc:
                tail = [str(line.get("stream", "")).strip() for line in exc.build_log][-5:]
                raise UserError(
                    f"building {plan.tag} failed: {exc.msg}; last lines: {' | '.join(tail)}"
                ) from exc
            except APIError as exc:
                raise UserError(f"Docker refused to build {plan.tag}: {exc.explanation}") from exc
        for line in build_log:
            if isinstance(line, dict) and line.get("stream"):
                log.debug("%s", str(line["stream"]).rstrip())
        log.info("built %s", plan.tag)
        built.append(plan.tag)
    return built
