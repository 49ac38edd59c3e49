"""Our command catalogue: the one Python source of every command in `command_json/`.

Each image (train, infer, evaluate) carries the commands of one `command_json/` file in its
`org.nrg.commands` label: GPU builds `xnat-monai-<step>.json`, CPU builds
`xnat-monai-<step>-cpu.json`. A command's `version` is derived from its content (package
version + a short hash of its canonical JSON), so it changes whenever the command changes and
XNAT, which never updates a command of the same name, image and version, stores the new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from xnat_plugin import __version__
from xnat_plugin.commands.catalogue.classify import classify_train_command
from xnat_plugin.commands.catalogue.classify_evaluate import classify_evaluate_project_command
from xnat_plugin.commands.catalogue.classify_infer import classify_infer_command
from xnat_plugin.commands.catalogue.detection import (
    detection_project_command,
    detection_session_command,
)
from xnat_plugin.commands.catalogue.detection_infer import detection_infer_command
from xnat_plugin.commands.catalogue.evaluate import (
    evaluate_project_command,
    evaluate_session_command,
)
from xnat_plugin.commands.catalogue.infer import infer_command
from xnat_plugin.commands.catalogue.parts import CPU, GPU, VARIANTS, Variant, image_name
from xnat_plugin.commands.catalogue.train import train_command
from xnat_plugin.commands.model import Command

STEPS = ("train", "infer", "evaluate")
_BUILDERS: dict[str, tuple[Callable[[Variant], Command], ...]] = {
    # The classifier trains in the train image: the same libraries and hardware.
    "train": (train_command, classify_train_command),
    # The classifier and the detector infer in the infer image: the same libraries and hardware.
    "infer": (infer_command, classify_infer_command, detection_infer_command),
    # Detection's and classification's evaluations run in the evaluate image: the same CPU-only
    # metrics libraries.
    "evaluate": (
        evaluate_session_command,
        evaluate_project_command,
        detection_session_command,
        detection_project_command,
        classify_evaluate_project_command,
    ),
}


def content_version(command: Command) -> str:
    """`<package version>+<8 hex of sha256 of the command's canonical JSON without version>`."""
    content = command.to_dict()
    content.pop("version", None)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:8]
    return f"{__version__}+{digest}"


def with_content_version(command: Command) -> Command:
    return command.model_copy(update={"version": content_version(command)})


def step_commands(step: str, variant: Variant = GPU) -> list[Command]:
    """The commands in the `org.nrg.commands` label of one image, versions filled in."""
    if step not in _BUILDERS:
        raise ValueError(f"unknown step {step!r}; known: {', '.join(STEPS)}")
    return [with_content_version(build(variant)) for build in _BUILDERS[step]]


def command_json_name(step: str, variant: Variant = GPU) -> str:
    """The `command_json/` file of one image, e.g. `xnat-monai-infer-cpu.json`."""
    return f"xnat-monai-{step}{variant.suffix}.json"


def catalogue() -> dict[str, list[Command]]:
    """Every `command_json/` file name with the commands it holds."""
    return {
        command_json_name(step, variant): step_commands(step, variant)
        for variant in VARIANTS
        for step in STEPS
    }


def all_commands() -> list[Command]:
    return [command for commands in catalogue().values() for command in commands]


__all__ = [
    "CPU",
    "GPU",
    "STEPS",
    "VARIANTS",
    "Variant",
    "all_commands",
    "catalogue",
    "command_json_name",
    "content_version",
    "image_name",
    "step_commands",
]
