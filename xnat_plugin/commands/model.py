"""Typed model of an XNAT Container Service command (the JSON of `POST /xapi/commands`).

Field names are snake_case attributes with the kebab-case JSON keys of Container Service 3.7.3
as aliases, so `Command.model_validate(json)` reads what XNAT reads and `to_json()` writes
what XNAT writes (defaults left out). Keys XNAT does not know are kept in `unknown_keys` (with
their path) instead of being dropped silently, so validation can warn about them.

Types stay plain strings (not enums) so that a command with an unknown type still parses and
validation can report it with XNAT's own message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from xnat_plugin.commands.vocabulary import (  # noqa: F401  (re-exported)
    COMMAND_INPUT_TYPES,
    COMMAND_TYPES,
    MOUNTABLE_WRAPPER_INPUT_TYPES,
    MULTIPLE_DELIMITERS,
    OUTPUT_HANDLER_TYPES,
    RESERVED_ENVIRONMENT_VARIABLES,
    SELECT_TYPES,
    VISIBILITIES,
    WRAPPER_INPUT_TYPES,
)
from xnat_plugin.errors import UserError


def _to_kebab(name: str) -> str:
    return name.replace("_", "-")


def _scalar_to_string(value: Any) -> Any:
    """Jackson turns JSON scalars into Java Strings; do the same (true -> "true", 5 -> "5")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return value


class XnatJsonModel(BaseModel):
    """Base: kebab-case aliases, unknown keys remembered, `to_json()` without defaults."""

    model_config = ConfigDict(
        alias_generator=_to_kebab,
        populate_by_name=True,
        extra="ignore",
        coerce_numbers_to_str=True,
    )

    _unknown_keys: list[str] = PrivateAttr(default_factory=list)
    _given_keys: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_keys(cls, data: Any, handler: Any) -> Any:
        instance = handler(data)
        if isinstance(data, dict) and isinstance(instance, XnatJsonModel):
            known = cls.known_json_keys()
            instance._given_keys = [str(key) for key in data]
            instance._unknown_keys = [str(key) for key in data if key not in known]
        return instance

    @classmethod
    def known_json_keys(cls) -> set[str]:
        keys: set[str] = set()
        for name, field in cls.model_fields.items():
            keys.add(name)
            if field.alias:
                keys.add(field.alias)
            if isinstance(field.validation_alias, AliasChoices):
                keys.update(str(choice) for choice in field.validation_alias.choices)
            elif isinstance(field.validation_alias, str):
                keys.add(field.validation_alias)
        return keys

    @property
    def given_keys(self) -> list[str]:
        """The JSON keys this object was parsed from (empty when built in Python)."""
        return list(self._given_keys)

    @property
    def own_unknown_keys(self) -> list[str]:
        """JSON keys of this object (not its children) that XNAT does not read."""
        return list(self._unknown_keys)

    def to_dict(self) -> dict[str, Any]:
        """XNAT's JSON keys; fields left at their default are omitted."""
        return self.model_dump(by_alias=True, exclude_defaults=True, mode="json")

    def __eq__(self, other: object) -> bool:
        # Equal content is equal, whichever JSON spelling it was parsed from.
        if not isinstance(other, XnatJsonModel) or type(other) is not type(self):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]


class CommandMount(XnatJsonModel):
    name: str = ""
    writable: bool = False
    path: str | None = None


class CommandInput(XnatJsonModel):
    """A command-level input: a value that lands in the command line (`#KEY#`) or env."""

    name: str = ""
    label: str | None = None
    description: str | None = None
    type: str = "string"
    required: bool = False
    matcher: str | None = None
    default_value: str | None = None
    replacement_key: str | None = None
    command_line_flag: str | None = None
    command_line_separator: str | None = None
    true_value: str | None = None
    false_value: str | None = None
    sensitive: bool | None = None
    select_values: list[str] = Field(default_factory=list)
    multiple_delimiter: str | None = None

    @field_validator("default_value", "true_value", "false_value", mode="before")
    @classmethod
    def _scalars_to_strings(cls, value: Any) -> Any:
        return _scalar_to_string(value)

    @property
    def effective_replacement_key(self) -> str:
        """The `#KEY#` this input fills in: `replacement-key`, else `#name#`."""
        return self.replacement_key if self.replacement_key else f"#{self.name}#"

    @property
    def is_select(self) -> bool:
        return self.type in SELECT_TYPES


class CommandOutput(XnatJsonModel):
    name: str = ""
    description: str | None = None
    required: bool = False
    mount: str | None = None
    path: str | None = None
    glob: str | None = None


class WrapperInput(XnatJsonModel):
    """What external and derived wrapper inputs share (`required` defaults to TRUE here)."""

    name: str = ""
    label: str | None = None
    description: str | None = None
    type: str = "string"
    matcher: str | None = None
    default_value: str | None = None
    user_settable: bool | None = None
    sensitive: bool | None = None
    replacement_key: str | None = None
    required: bool = True
    load_children: bool = True
    provides_value_for_command_input: str | None = None
    provides_files_for_command_mount: str | None = None
    via_setup_command: str | None = None

    @field_validator("default_value", mode="before")
    @classmethod
    def _scalars_to_strings(cls, value: Any) -> Any:
        return _scalar_to_string(value)

    @property
    def effective_replacement_key(self) -> str:
        return self.replacement_key if self.replacement_key else f"#{self.name}#"

    @property
    def is_derived(self) -> bool:
        return False


class ExternalInput(WrapperInput):
    """The wrapper's root: the XNAT object (or value) the user launches on."""


class DerivedInput(WrapperInput):
    """An input found from another wrapper input (child, parent, or a property of it)."""

    derived_from_wrapper_input: str | None = None
    derived_from_xnat_object_property: str | None = None
    multiple: bool = False
    parser: str | None = None

    @property
    def is_derived(self) -> bool:
        return True


class OutputHandler(XnatJsonModel):
    """Uploads one command output into XNAT, under a wrapper input or an earlier handler."""

    name: str = ""
    accepts_command_output: str | None = None
    via_wrapup_command: str | None = None
    # `as-a-child-of-wrapper-input` is the pre-2.0 spelling that XNAT still reads.
    as_a_child_of: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "as-a-child-of", "as_a_child_of", "as-a-child-of-wrapper-input"
        ),
        serialization_alias="as-a-child-of",
    )
    type: str = "Resource"
    xsi_type: str | None = None
    label: str | None = None
    format: str | None = None
    description: str | None = None
    content: str | None = None
    tags: list[str] = Field(default_factory=list)


class CommandWrapper(XnatJsonModel):
    """An `xnat[]` entry: how XNAT objects feed the command and where its outputs go."""

    id: int = 0
    name: str = ""
    label: str | None = None
    description: str | None = None
    contexts: list[str] = Field(default_factory=list)
    external_inputs: list[ExternalInput] = Field(default_factory=list)
    derived_inputs: list[DerivedInput] = Field(default_factory=list)
    output_handlers: list[OutputHandler] = Field(default_factory=list)

    @property
    def inputs(self) -> list[WrapperInput]:
        """External inputs first, then derived ones, in file order."""
        return [*self.external_inputs, *self.derived_inputs]

    def input(self, name: str) -> WrapperInput:
        for wrapper_input in self.inputs:
            if wrapper_input.name == name:
                return wrapper_input
        raise KeyError(f"wrapper {self.name!r} has no input {name!r}")

    def output_handler(self, name: str) -> OutputHandler:
        for handler in self.output_handlers:
            if handler.name == name:
                return handler
        raise KeyError(f"wrapper {self.name!r} has no output handler {name!r}")

    def derived_inputs_in_resolution_order(self) -> list[DerivedInput]:
        """Derived inputs ordered so that each comes after the input it is derived from."""
        done = {external.name for external in self.external_inputs}
        pending = list(self.derived_inputs)
        ordered: list[DerivedInput] = []
        while pending:
            ready = [d for d in pending if d.derived_from_wrapper_input in done]
            if not ready:  # unknown parents or a cycle: keep file order for the rest
                ordered.extend(pending)
                break
            for derived in ready:
                ordered.append(derived)
                done.add(derived.name)
                pending.remove(derived)
        return ordered

    def output_handlers_in_upload_order(self) -> list[OutputHandler]:
        """Handlers ordered so that a parent handler (e.g. an Assessor) uploads first."""
        handler_names = {handler.name for handler in self.output_handlers}
        done: set[str] = set()
        pending = list(self.output_handlers)
        ordered: list[OutputHandler] = []
        while pending:
            ready = [
                h
                for h in pending
                if h.as_a_child_of not in handler_names or h.as_a_child_of in done
            ]
            if not ready:
                ordered.extend(pending)
                break
            for handler in ready:
                ordered.append(handler)
                done.add(handler.name)
                pending.remove(handler)
        return ordered


class SecretEnd(XnatJsonModel):
    """A secret's `source` or `destination`: a `type` and an `identifier`."""

    model_config = ConfigDict(extra="allow")

    type: str | None = None
    identifier: str | None = None


class Secret(XnatJsonModel):
    source: SecretEnd
    destination: SecretEnd


class Command(XnatJsonModel):
    """One Container Service command: an image, a command line, and its XNAT wrappers."""

    id: int = 0
    name: str = ""
    label: str | None = None
    description: str | None = None
    version: str | None = None
    schema_version: str | None = None
    info_url: str | None = None
    image: str | None = None
    container_name: str | None = None
    type: str = "docker"
    index: str | None = None
    hash: str | None = None
    working_directory: str | None = None
    command_line: str | None = None
    override_entrypoint: bool | None = None
    mounts: list[CommandMount] = Field(default_factory=list)
    environment_variables: dict[str, str] = Field(default_factory=dict)
    ports: dict[str, str] = Field(default_factory=dict)
    inputs: list[CommandInput] = Field(default_factory=list)
    outputs: list[CommandOutput] = Field(default_factory=list)
    xnat: list[CommandWrapper] = Field(default_factory=list)
    reserve_memory: int | None = None
    limit_memory: int | None = None
    limit_cpu: float | None = None
    runtime: str | None = None
    # XNAT 3.7.3 registers commands (POST /commands, image labels) through a class that reads
    # `ipcMode` and ignores `ipc-mode`, though GET answers `ipc-mode`: read both, write `ipcMode`.
    ipc_mode: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ipcMode", "ipc-mode", "ipc_mode"),
        serialization_alias="ipcMode",
    )
    auto_remove: bool | None = None
    shm_size: int | None = None
    network: str | None = None
    container_labels: dict[str, str] | None = None
    gpus: str | None = None
    generic_resources: dict[str, str] | None = None
    ulimits: dict[str, str] | None = None
    secrets: list[Secret] = Field(default_factory=list)
    visibility: str = "public"
    command_metadata: Any = None

    @field_validator("environment_variables", "ports", mode="before")
    @classmethod
    def _null_map_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator(
        "environment_variables",
        "ports",
        "container_labels",
        "generic_resources",
        "ulimits",
        mode="before",
    )
    @classmethod
    def _map_values_to_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: _scalar_to_string(item) for key, item in value.items()}
        return value

    @field_validator("mounts", "inputs", "outputs", "xnat", "secrets", mode="before")
    @classmethod
    def _null_list_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    # ----- lookups the runner and the sandbox use

    def wrapper(self, name: str) -> CommandWrapper:
        """The wrapper called `name`; a UserError naming the known wrappers otherwise."""
        for wrapper in self.xnat:
            if wrapper.name == name:
                return wrapper
        known = ", ".join(w.name for w in self.xnat) or "none"
        raise UserError(
            f"command {self.name!r} has no wrapper {name!r} (known wrappers: {known}); "
            "pick one of those names"
        )

    def input(self, name: str) -> CommandInput:
        for command_input in self.inputs:
            if command_input.name == name:
                return command_input
        raise KeyError(f"command {self.name!r} has no input {name!r}")

    def mount(self, name: str) -> CommandMount:
        for mount in self.mounts:
            if mount.name == name:
                return mount
        raise KeyError(f"command {self.name!r} has no mount {name!r}")

    def output(self, name: str) -> CommandOutput:
        for output in self.outputs:
            if output.name == name:
                return output
        raise KeyError(f"command {self.name!r} has no output {name!r}")

    # ----- JSON

    def to_json(self, *, indent: int | None = 2) -> str:
        """This command as XNAT's JSON (kebab-case keys, defaults omitted)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def unknown_keys(self) -> list[str]:
        """Every key in the parsed JSON that XNAT ignores, as a path such as
        `xnat[0].external-inputs[1].provides-value-to-command-input`."""
        return [path for path, _ in _unknown_key_paths(self, "")]


def _unknown_key_paths(model: XnatJsonModel, prefix: str) -> Iterator[tuple[str, str]]:
    for key in model.own_unknown_keys:
        yield (f"{prefix}{key}", key)
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = field.serialization_alias or field.alias or name
        if isinstance(value, XnatJsonModel):
            yield from _unknown_key_paths(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            for position, item in enumerate(value):
                if isinstance(item, XnatJsonModel):
                    yield from _unknown_key_paths(item, f"{prefix}{key}[{position}].")


def parse_command(data: dict[str, Any], *, where: str = "command JSON") -> Command:
    """One command from its parsed JSON; a UserError naming the bad field otherwise."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a JSON object for a command, got {type(data).__name__}")
    try:
        return Command.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise UserError(
            f"{where}: field {location!r}: {first['msg']}; fix the command JSON"
        ) from exc


def load_commands(source: str | Path | dict[str, Any] | list[Any]) -> list[Command]:
    """Commands from a file path, a JSON string, a parsed object, or a parsed array.

    A JSON array (an image's `org.nrg.commands` label) gives several commands; a single
    object gives one.
    """
    where = "command JSON"
    data: Any
    if isinstance(source, Path) or (
        isinstance(source, str) and not source.lstrip().startswith(("{", "["))
    ):
        path = Path(source)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot read command file {path}: {exc.strerror}") from exc
        data = _parse_json_text(text, where)
    elif isinstance(source, str):
        data = _parse_json_text(source, where)
    else:
        data = source
    items = data if isinstance(data, list) else [data]
    return [parse_command(item, where=f"{where}[{i}]") for i, item in enumerate(items)]


def _parse_json_text(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc


def find_wrapper(commands: list[Command], wrapper_name: str) -> tuple[Command, CommandWrapper]:
    """The command holding the wrapper `wrapper_name` (wrapper names are unique per command;
    the first command that has it wins)."""
    for command in commands:
        for wrapper in command.xnat:
            if wrapper.name == wrapper_name:
                return command, wrapper
    known = ", ".join(w.name for c in commands for w in c.xnat) or "none"
    raise UserError(f"no command has a wrapper {wrapper_name!r} (known wrappers: {known})")


def commands_to_json(commands: list[Command], *, indent: int | None = 2) -> str:
    """A JSON array of commands, the value of an image's `org.nrg.commands` label."""
    return json.dumps([c.to_dict() for c in commands], indent=indent, ensure_ascii=False)


__all__ = [
    "COMMAND_INPUT_TYPES",
    "COMMAND_TYPES",
    "MOUNTABLE_WRAPPER_INPUT_TYPES",
    "MULTIPLE_DELIMITERS",
    "OUTPUT_HANDLER_TYPES",
    "RESERVED_ENVIRONMENT_VARIABLES",
    "SELECT_TYPES",
    "VISIBILITIES",
    "WRAPPER_INPUT_TYPES",
    "Command",
    "CommandInput",
    "CommandMount",
    "CommandOutput",
    "CommandWrapper",
    "DerivedInput",
    "ExternalInput",
    "OutputHandler",
    "Secret",
    "SecretEnd",
    "WrapperInput",
    "commands_to_json",
    "find_wrapper",
    "load_commands",
    "parse_command",
]
