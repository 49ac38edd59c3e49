"""What a resolved launch holds: the filled command line, mounts and output handlers.

Typed data handed from resolution to staging, the backends and finalization. Container paths
are those of the command; host paths are filled in by staging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xnat_plugin.commands.model import Command, CommandWrapper
from xnat_plugin.runner.shell_line import SENSITIVE_MASK, ShellLine
from xnat_plugin.runner.xnat_objects import XnatObject


@dataclass
class ResolvedMount:
    """A command mount: where it appears in the container and what fills it."""

    name: str
    container_path: str
    writable: bool
    source_input: str | None = None
    source: XnatObject | None = None
    host_path: Path | None = None  # set by staging

    @property
    def is_input(self) -> bool:
        return self.source is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "container-path": self.container_path,
            "writable": self.writable,
            "input": self.source_input,
            "source-uri": self.source.uri if self.source is not None else None,
            "xnat-host-path": str(self.host_path) if self.host_path is not None else None,
        }


@dataclass
class ResolvedOutput:
    """One output handler applied to one command output, in upload order."""

    name: str  # "<command output>:<handler>"
    command_output: str
    handler: str
    required: bool
    mount: str
    path: str
    type: str
    label: str | None
    parent_input: str | None  # the wrapper input whose object receives it, or …
    parent_handler: str | None  # … the earlier handler whose created object receives it
    parent: XnatObject | None = None
    xsi_type: str | None = None
    format: str | None = None
    description: str | None = None
    content: str | None = None
    tags: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "from-command-output": self.command_output,
            "from-output-handler": self.handler,
            "type": self.type,
            "required": self.required,
            "mount": self.mount,
            "path": self.path,
            "label": self.label,
            "handled-by": self.parent_input or self.parent_handler,
        }


@dataclass
class ResolvedCommand:
    """A wrapper resolved against one XNAT object, ready to stage and run."""

    command: Command
    wrapper: CommandWrapper
    project: str | None
    input_values: dict[str, str | None]  # every wrapper and command input, by name
    input_objects: dict[str, XnatObject]
    shell_line: ShellLine
    environment: dict[str, str]
    working_directory: str | None
    mounts: list[ResolvedMount]
    outputs: list[ResolvedOutput]
    sensitive_inputs: set[str] = field(default_factory=set)

    @property
    def command_line(self) -> str:
        """The command line as `/bin/sh -c` receives it (every value quoted where it lands)."""
        return self.shell_line.render()

    @property
    def image(self) -> str | None:
        return self.command.image

    @property
    def override_entrypoint(self) -> bool:
        return bool(self.command.override_entrypoint)

    def mount(self, name: str) -> ResolvedMount:
        for mount in self.mounts:
            if mount.name == name:
                return mount
        raise KeyError(name)

    def masked(self, text: str | None) -> str | None:
        """`text` with the value of every `sensitive` input replaced by the mask."""
        if text is None:
            return None
        for name in self.sensitive_inputs:
            value = self.input_values.get(name)
            if value:
                text = text.replace(value, SENSITIVE_MASK)
        return text

    def to_json(self) -> dict[str, Any]:
        """The parts of the resolved command XNAT shows in a container's record."""
        return {
            "command-id": self.command.id,
            "command-name": self.command.name,
            "wrapper-id": self.wrapper.id,
            "wrapper-name": self.wrapper.name,
            "image": self.image,
            "project": self.project,
            "command-line": self.masked(self.shell_line.render(mask_sensitive=True)),
            "working-directory": self.working_directory,
            "environment-variables": {k: self.masked(v) for k, v in self.environment.items()},
            # Values of `sensitive` inputs never reach a record or a log.
            "inputs": {
                name: (SENSITIVE_MASK if name in self.sensitive_inputs else value)
                for name, value in self.input_values.items()
            },
            "mounts": [mount.to_json() for mount in self.mounts],
            "outputs": [output.to_json() for output in self.outputs],
        }
