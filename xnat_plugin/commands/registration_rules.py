"""What Container Service 3.7.3 refuses when a command is registered: `Command.validate()`.

Messages are XNAT's own, word for word (typos included), in XNAT's order, so a user can search
for them. Java prints null as "null" and lists as "[a, b]"; `_java` does the same.
"""

from __future__ import annotations

import json
import re

from xnat_plugin.commands.model import (
    COMMAND_TYPES,
    MULTIPLE_DELIMITERS,
    OUTPUT_HANDLER_TYPES,
    RESERVED_ENVIRONMENT_VARIABLES,
    VISIBILITIES,
    WRAPPER_INPUT_TYPES,
    Command,
    CommandInput,
    CommandWrapper,
    DerivedInput,
    OutputHandler,
    WrapperInput,
)

NOT_A_NAME = re.compile(r"[^A-Za-z0-9_-]")
HAS_TAG = re.compile(r".+:[a-zA-Z0-9_.-]+$")

_SELECT_NOTE = (
    "Note that command inputs with values provided by xnat inputs shouldn't be designated as "
    "select (they'll automatically render as a select if their xnat input resolves to more "
    "than one value)."
)


def _java(value: object) -> str:
    """How Java prints a value in a message (None is "null", lists are "[a, b]")."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(_java(item) for item in value) + "]"
    return str(value)


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _java_split_count(value: str, separator: str) -> int:
    # Java's String.split drops trailing empty strings.
    parts = value.split(separator)
    while parts and parts[-1] == "":
        parts.pop()
    return len(parts)


# ----- what XNAT refuses (Command.validate() in 3.7.3)


def xnat_registration_errors(command: Command) -> list[str]:
    """The messages of XNAT's `Command.validate()` for this command, in its order."""
    errors: list[str] = []
    if _blank(command.name):
        errors.append("Command name cannot be blank.")
    prefix = f'Command "{_java(command.name)}" - '
    if _blank(command.image):
        errors.append(prefix + "image name cannot be blank.")
    if command.image and not HAS_TAG.fullmatch(command.image):
        errors.append(prefix + "image name must include version tag. e.g. image_name:tag")
    if command.type == "docker":
        errors.extend(_docker_command_errors(command, prefix))
    elif command.type in ("docker-setup", "docker-wrapup"):
        kind = "Setup" if command.type == "docker-setup" else "Wrapup"
        errors.extend(_setup_or_wrapup_errors(command, prefix, kind))
    else:
        errors.append(
            prefix
            + f'Cannot validate command of type "{command.type}". Known types: '
            + ", ".join(COMMAND_TYPES)
        )
    if command.visibility not in VISIBILITIES:
        errors.append(
            prefix
            + " has visibility set to an unknown value. Known types: "
            + ", ".join(VISIBILITIES)
        )
    return errors


def _setup_or_wrapup_errors(command: Command, prefix: str, kind: str) -> list[str]:
    declared = [
        ("mounts", command.mounts),
        ("inputs", command.inputs),
        ("outputs", command.outputs),
        ("wrappers", command.xnat),
        ("environment variables", command.environment_variables),
        ("ports", command.ports),
        ("secrets", command.secrets),
    ]
    return [
        f"{prefix} {kind} commands cannot declare any {what}." for what, items in declared if items
    ]


def _docker_command_errors(command: Command, prefix: str) -> list[str]:
    errors: list[str] = []
    for ulimit in (command.ulimits or {}).values():
        if ulimit == "" or (":" in ulimit and _java_split_count(ulimit, ":") > 2):
            errors.append(
                prefix + f" incorrect ulimit format: {ulimit}. Should be "
                '"name" : "softlimit:hardlimit" or "name" : "limit"'
            )

    secret_env_names = {
        secret.destination.identifier
        for secret in command.secrets
        if secret.destination.type == "environment-variable" and secret.destination.identifier
    }
    for name in sorted(secret_env_names & set(RESERVED_ENVIRONMENT_VARIABLES)):
        errors.append(prefix + f' Secrets use reserved environment variable name "{name}"')
    for name in sorted(secret_env_names & set(command.environment_variables)):
        errors.append(prefix + f' Secrets and environment variables both request name "{name}"')

    mount_names: list[str] = []
    for mount in command.mounts:
        mount_errors = []
        if _blank(mount.name):
            mount_errors.append("Mount name cannot be blank.")
        if _blank(mount.path):
            mount_errors.append(f'Mount "{mount.name}" path cannot be blank.')
        if mount.name in mount_names:
            errors.append(prefix + f'mount name "{mount.name}" is not unique.')
        else:
            mount_names.append(mount.name)
        errors.extend(prefix + message for message in mount_errors)

    command_inputs: dict[str, CommandInput] = {}
    for command_input in command.inputs:
        input_errors = _command_input_errors(command_input)
        if command_input.name in command_inputs:
            errors.append(prefix + f'input name "{command_input.name}" is not unique.')
        else:
            command_inputs[command_input.name] = command_input
        errors.extend(prefix + message for message in input_errors)

    output_names: list[str] = []
    for output in command.outputs:
        output_errors = []
        if _blank(output.name):
            output_errors.append("Output name cannot be blank.")
        if _blank(output.mount):
            output_errors.append(f'Output "{output.name}" - mount cannot be blank.')
        if NOT_A_NAME.search(output.name):
            output_errors.append(
                f'Command output "{output.name}" name should contain only alphanumeric, _ and - '
                "characters."
            )
        if output.name in output_names:
            errors.append(prefix + f'output name "{output.name}" is not unique.')
        else:
            output_names.append(output.name)
        if output.mount not in mount_names:
            errors.append(
                prefix
                + f'output "{output.name}" references unknown mount "{_java(output.mount)}". '
                "Known mounts: " + ", ".join(mount_names)
            )
        errors.extend(prefix + message for message in output_errors)

    wrapper_names: list[str] = []
    for wrapper in command.xnat:
        wrapper_errors = (
            [] if not _blank(wrapper.name) else ["Command wrapper name cannot be blank."]
        )
        if wrapper.name in wrapper_names:
            errors.append(prefix + f'wrapper name "{wrapper.name}" is not unique.')
        else:
            wrapper_names.append(wrapper.name)
        errors.extend(_wrapper_errors(command, wrapper, prefix, output_names))
        errors.extend(prefix + message for message in wrapper_errors)
    return errors


def _command_input_errors(command_input: CommandInput) -> list[str]:
    name = command_input.name
    errors: list[str] = []
    if _blank(name):
        errors.append("Command input name cannot be blank")
    if NOT_A_NAME.search(name):
        errors.append(
            f'Command input "{name}" name should contain only alphanumeric, _ and - characters.'
        )
    delimiter = command_input.multiple_delimiter
    if delimiter is not None and delimiter not in MULTIPLE_DELIMITERS:
        errors.append(
            f'Invalid multiple-delimiter "{delimiter}", choose from: '
            + ", ".join(MULTIPLE_DELIMITERS)
        )
    select_values = command_input.select_values
    if command_input.is_select and not select_values:
        errors.append(
            f'Command input "{name}" is designated as type "{command_input.type}" but doesn\'t '
            "list select-values. " + _SELECT_NOTE
        )
    elif not command_input.is_select and select_values:
        errors.append(f'Command input "{name}" has select-values set, but is not a select type.')
    default = command_input.default_value
    default_list: list[str] | None = None
    if command_input.type == "select-many" and default is not None:
        try:
            parsed = json.loads(default)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            default_list = [_java(item) for item in parsed]
    if default_list is not None:
        if default_list and select_values and not set(default_list) <= set(select_values):
            errors.append(
                f'Command input "{name}" one or more default values in "{_java(default_list)}" '
                f'is not in the list of select-values "{_java(select_values)}"'
            )
    elif default is not None and select_values and default not in select_values:
        errors.append(
            f'Command input "{name}" default value "{default}" is not one of the select-values '
            f'"{_java(select_values)}"'
        )
    return errors


def _wrapper_input_errors(wrapper_input: WrapperInput) -> list[str]:
    name = wrapper_input.name
    errors: list[str] = []
    if _blank(name):
        errors.append("Command wrapper input name cannot be blank.")
    if wrapper_input.type not in WRAPPER_INPUT_TYPES:
        errors.append(
            f'Command wrapper input "{name}" - Unknown type "{wrapper_input.type}". Known types: '
            + ", ".join(WRAPPER_INPUT_TYPES)
        )
    if not _blank(wrapper_input.via_setup_command) and _blank(
        wrapper_input.provides_files_for_command_mount
    ):
        errors.append(
            f'Command wrapper input "{name}" - "via-setup-command": '
            f'"{wrapper_input.via_setup_command}" - You cannot set "via-setup-command" on an '
            "input that does not provide files for a command mount."
        )
    if NOT_A_NAME.search(name):
        errors.append(
            f'Command wrapper input "{name}" name should contain only alphanumeric, _ and - '
            "characters."
        )
    if isinstance(wrapper_input, DerivedInput):
        if _blank(wrapper_input.derived_from_wrapper_input):
            errors.append(
                f'Command wrapper input "{name}" - property "derived-from-wrapper-input" cannot '
                "be blank."
            )
        if wrapper_input.multiple:
            if not _blank(wrapper_input.provides_files_for_command_mount):
                errors.append(
                    f'derived input "{name}" is designated as a "multiple" input, which means it '
                    "cannot provide files for command mounts (consider mounting the parent "
                    "element)."
                )
            if _blank(wrapper_input.provides_value_for_command_input):
                # XNAT's message has no space between "which" and "means".
                errors.append(
                    f'derived input "{name}" is designated as a "multiple" input, whichmeans it '
                    "must directly provide values for some command input."
                )
    return errors


def _wrapper_errors(
    command: Command, wrapper: CommandWrapper, prefix: str, output_names: list[str]
) -> list[str]:
    errors: list[str] = []
    where = prefix + f'wrapper "{_java(wrapper.name)}" - '
    select_inputs = {i.name for i in command.inputs if i.is_select or i.select_values}
    inputs: dict[str, WrapperInput] = {}

    def select_error(kind: str, wrapper_input: WrapperInput) -> str:
        return (
            where + f'{kind} input "{wrapper_input.name}" provides values for command input '
            f'"{wrapper_input.provides_value_for_command_input}", which is a select type. '
            + _SELECT_NOTE
        )

    for external in wrapper.external_inputs:
        input_errors = _wrapper_input_errors(external)
        if external.name in inputs:
            errors.append(where + f'external input name "{external.name}" is not unique.')
        else:
            inputs[external.name] = external
        if external.provides_value_for_command_input in select_inputs:
            errors.append(select_error("external", external))
        errors.extend(where + message for message in input_errors)

    multiple_inputs: set[str] = set()
    for derived in wrapper.derived_inputs:
        input_errors = _wrapper_input_errors(derived)
        if derived.name in inputs:
            errors.append(where + f'derived input name "{derived.name}" is not unique.')
        else:
            inputs[derived.name] = derived
        if derived.name == derived.derived_from_wrapper_input:
            errors.append(where + f'derived input "{derived.name}" is derived from itself.')
        if derived.derived_from_wrapper_input not in inputs:
            errors.append(
                where + f'derived input "{derived.name}" is derived from an unknown XNAT input '
                f'"{_java(derived.derived_from_wrapper_input)}". Known inputs: ' + ", ".join(inputs)
            )
        if derived.provides_value_for_command_input in select_inputs:
            errors.append(select_error("derived", derived))
        errors.extend(where + message for message in input_errors)
        if derived.multiple:
            multiple_inputs.add(derived.name)

    handler_names: list[str] = []
    handled: set[str] = set()
    for handler in wrapper.output_handlers:
        handler_errors = _output_handler_errors(handler)
        if handler.accepts_command_output not in output_names:
            errors.append(
                where + "output handler refers to unknown command output "
                f'"{_java(handler.accepts_command_output)}". Known outputs: '
                + ", ".join(output_names)
                + "."
            )
        else:
            handled.add(str(handler.accepts_command_output))
        target = handler.as_a_child_of
        if not (target in inputs or target in handler_names):
            errors.append(
                where + "output handler does not refer to a known wrapper input or output. "
                f'"as-a-child-of": "{_java(target)}".'
                f"\nKnown inputs: {', '.join(inputs)}."
                f"\nKnown outputs (so far): {', '.join(handler_names)}."
            )
        if target in multiple_inputs:
            errors.append(
                where + f'output handler "{handler.name}" has "as-a-child-of": "{target}", but '
                "that input is set to allow multiple values."
            )
        target_input = inputs.get(target) if target is not None else None
        if (
            isinstance(target_input, DerivedInput)
            and target_input.derived_from_xnat_object_property is not None
            and target_input.derived_from_xnat_object_property != "uri"
        ):
            errors.append(
                where + f'output handler "{handler.name}" has "as-a-child-of": "{target}", but '
                f'that input\'s value is set to "{target_input.derived_from_xnat_object_property}",'
                ' which will cause the upload to fail (a "uri" is required for upload).'
            )
        if handler.name in handler_names:
            errors.append(where + f'output handler name "{handler.name}" is not unique.')
        else:
            handler_names.append(handler.name)
        errors.extend(where + message for message in handler_errors)

    for output_name in output_names:
        if output_name not in handled:
            errors.append(
                where + f'command output "{output_name}" is not handled by any output handler.'
            )
    return errors


def _output_handler_errors(handler: OutputHandler) -> list[str]:
    errors: list[str] = []
    if _blank(handler.name):
        errors.append("Command wrapper output - name cannot be blank.")
    prefix = f'Command wrapper output "{handler.name}" - '
    if _blank(handler.accepts_command_output):
        errors.append(prefix + 'property "accepts-command-output" cannot be blank.')
    if _blank(handler.as_a_child_of):
        errors.append(prefix + 'property "as-a-child-of" cannot be blank.')
    if handler.type not in OUTPUT_HANDLER_TYPES:
        errors.append(
            prefix
            + f'Unknown type "{handler.type}". Known types: '
            + ", ".join(OUTPUT_HANDLER_TYPES)
        )
    if handler.type == "Resource" and _blank(handler.label):
        errors.append(prefix + "when type = Resource, label cannot be blank.")
    if NOT_A_NAME.search(handler.name):
        errors.append(
            f'Command wrapper output "{handler.name}" name should contain only alphanumeric, _ '
            "and - characters."
        )
    return errors
