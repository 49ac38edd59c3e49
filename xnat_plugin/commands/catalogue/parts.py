"""Building blocks shared by our commands: images, resources, GPU settings, input shapes.

The commands that run a network (train, infer) ask for a GPU in their default build
(`runtime: nvidia` for standalone Docker, `generic-resources: {"gpu": "1"}` for Swarm and
Kubernetes); the evaluate commands compute their metrics on the CPU and ask for none, so they
never hold a GPU slot. Each image also has a CPU build (`--cpu`) whose commands carry a `-cpu`
suffix on the command, wrapper and image tag and ask for no GPU; both can be installed side by
side because wrapper names stay unique.
"""

from __future__ import annotations

from dataclasses import dataclass

from xnat_plugin import __version__
from xnat_plugin.commands.model import Command, CommandInput, CommandMount, DerivedInput

IMAGE_REPOSITORY = "xnat-monai"
INFO_URL = "https://github.com/xnat-monai/xnat-monai#readme"
GIB = 1024**3


@dataclass(frozen=True)
class Variant:
    """GPU (the default) or CPU build of an image."""

    cpu: bool = False

    @property
    def suffix(self) -> str:
        return "-cpu" if self.cpu else ""

    @property
    def menu_suffix(self) -> str:
        return " (CPU)" if self.cpu else ""

    @property
    def default_device(self) -> str:
        return "cpu" if self.cpu else "auto"


GPU = Variant(cpu=False)
CPU = Variant(cpu=True)
VARIANTS = (GPU, CPU)


@dataclass(frozen=True)
class Resources:
    """Memory in MiB, /dev/shm in bytes (MONAI data loaders share batches through /dev/shm);
    `gpu`: whether the step runs a network, so its GPU build asks for one GPU."""

    reserve_memory_mib: int
    limit_memory_mib: int
    shm_size_bytes: int
    gpu: bool = True


def image_name(step: str, variant: Variant) -> str:
    """`xnat-monai/<step>:<package version>[-cpu]`."""
    return f"{IMAGE_REPOSITORY}/{step}:{__version__}{variant.suffix}"


def with_hardware(command: Command, variant: Variant, resources: Resources) -> Command:
    """`command` with memory, shared memory and (GPU build of a GPU step) the GPU request."""
    fields: dict[str, object] = {
        "reserve_memory": resources.reserve_memory_mib,
        "limit_memory": resources.limit_memory_mib,
        "shm_size": resources.shm_size_bytes,
    }
    if resources.gpu and not variant.cpu:
        # Standalone Docker reads only `runtime`; Swarm and Kubernetes only generic-resources.
        fields["runtime"] = "nvidia"
        fields["generic_resources"] = {"gpu": "1"}
    return command.model_copy(update=fields)


def read_only_mount(name: str, path: str) -> CommandMount:
    return CommandMount(name=name, path=path, writable=False)


def output_mount() -> CommandMount:
    # Fed by no input: XNAT gives a fresh empty writable build directory.
    return CommandMount(name="output", path="/output", writable=True)


def value_input(
    name: str,
    label: str,
    description: str,
    *,
    type: str = "string",
    default: str | None = None,
    required: bool = False,
    flag: str | None = None,
    select: list[str] | None = None,
) -> CommandInput:
    """A command input the user may set (its key `#name#` sits in the command line)."""
    return CommandInput(
        name=name,
        label=label,
        description=description,
        type=type,
        default_value=default,
        required=required,
        command_line_flag=flag,
        select_values=select or [],
    )


def xnat_value_input(name: str, label: str, description: str, flag: str) -> CommandInput:
    """A command input whose value a derived wrapper input provides (an ID or label)."""
    return CommandInput(
        name=name,
        label=label,
        description=description,
        required=True,
        command_line_flag=flag,
    )


def session_inputs(*, labels: bool = True) -> list[CommandInput]:
    """The session's XNAT ID and project (and, with `labels`, its subject's ID and its label),
    filled by the wrapper's derived inputs."""
    inputs = [
        xnat_value_input("SESSION_ID", "Session ID", "XNAT ID of the session.", "--session-id"),
        xnat_value_input("PROJECT_ID", "Project", "The session's project.", "--project"),
    ]
    if labels:
        inputs += [
            xnat_value_input("SUBJECT_ID", "Subject ID", "XNAT ID of the subject.", "--subject"),
            xnat_value_input(
                "SESSION_LABEL", "Session label", "Label of the session.", "--session-label"
            ),
        ]
    return inputs


def device_input(variant: Variant) -> CommandInput:
    choices = ["cpu"] if variant.cpu else ["auto", "cuda", "cpu"]
    return value_input(
        "device",
        "Device",
        "Where the network runs: auto uses the GPU when one is visible.",
        type="select-one",
        default=variant.default_device,
        required=True,
        flag="--device",
        select=choices,
    )


def property_of(
    name: str, label: str, parent: str, xnat_property: str, provides: str
) -> DerivedInput:
    """A derived string: one property (`id`, `label`, `project-id`, …) of another input."""
    return DerivedInput(
        name=name,
        label=label,
        description=f"The {xnat_property} of the {parent}, filled in by XNAT.",
        type="string",
        derived_from_wrapper_input=parent,
        derived_from_xnat_object_property=xnat_property,
        provides_value_for_command_input=provides,
        user_settable=False,
    )
