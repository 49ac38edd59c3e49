"""What Container Service 3.7.3 registers without a word but cannot run.

Keys it ignores, a wrapper with no contexts (offered nowhere), not exactly one external input
(cannot be launched from the UI), a `#KEY#` no command input fills, a derivation its resolver
refuses, a mount fed from a type with no files... Where XNAT has a launch-time message for the
failure, the warning quotes it.
"""

from __future__ import annotations

import re

from xnat_plugin.commands.model import (
    COMMAND_INPUT_TYPES,
    MOUNTABLE_WRAPPER_INPUT_TYPES,
    RESERVED_ENVIRONMENT_VARIABLES,
    WRAPPER_INPUT_TYPES,
    Command,
    CommandWrapper,
)

_TEMPLATE_KEY = re.compile(r"#[A-Za-z0-9_.-]+#")


# Which parent types the 3.7.3 resolver can derive each input type from
# (CommandResolutionServiceImpl); anything else fails at launch.
DERIVABLE_FROM: dict[str, frozenset[str]] = {
    "string": frozenset(
        {
            "Project",
            "ProjectAsset",
            "Subject",
            "SubjectAssessor",
            "Session",
            "Scan",
            "Assessor",
            "File",
            "Resource",
        }
    ),
    "Directory": frozenset({"Resource"}),
    "File": frozenset({"Resource"}),
    "File[]": frozenset({"Resource"}),
    "Project": frozenset(
        {"ProjectAsset", "Session", "Subject", "Scan", "Assessor", "SubjectAssessor"}
    ),
    "ProjectAsset": frozenset({"Project"}),
    "Subject": frozenset({"Project", "Session", "SubjectAssessor"}),
    "Session": frozenset({"Subject", "Scan", "Assessor"}),
    "SubjectAssessor": frozenset({"Subject"}),
    "Scan": frozenset({"Session", "Resource"}),
    "Assessor": frozenset({"Session"}),
    "Resource": frozenset(
        {"Project", "ProjectAsset", "Subject", "SubjectAssessor", "Session", "Scan", "Assessor"}
    ),
}
# Java enum constant names of the wrapper input types, as XNAT's launch errors print them.
_ENUM_NAMES = {
    "string": "STRING",
    "boolean": "BOOLEAN",
    "number": "NUMBER",
    "Directory": "DIRECTORY",
    "File[]": "FILES",
    "File": "FILE",
    "Project": "PROJECT",
    "ProjectAsset": "PROJECT_ASSET",
    "Subject": "SUBJECT",
    "SubjectAssessor": "SUBJECT_ASSESSOR",
    "Session": "SESSION",
    "Scan": "SCAN",
    "Assessor": "ASSESSOR",
    "Resource": "RESOURCE",
    "Config": "CONFIG",
    "file": "FILE_INPUT",
}


def silent_problems(command: Command) -> list[str]:
    """Problems XNAT does not report at registration; each message says what to change."""
    prefix = f'Command "{command.name}" - '
    problems: list[str] = []
    for path in command.unknown_keys():
        problems.append(prefix + f'key "{path}" is not read by XNAT and is ignored.')
    if "ipc-mode" in command.given_keys:
        problems.append(
            prefix + 'key "ipc-mode" is ignored when XNAT 3.7.3 registers a command (it reads '
            '"ipcMode"); write "ipcMode".'
        )
    # Still read at registration, but the pre-2.0 spelling.
    for handler_path in _obsolete_handler_keys(command):
        problems.append(
            prefix + f'key "{handler_path}" is an obsolete spelling of "as-a-child-of"; use the '
            "new key."
        )
    problems.extend(_command_level_problems(command, prefix))
    for wrapper in command.xnat:
        problems.extend(
            _wrapper_problems(command, wrapper, prefix + f'wrapper "{wrapper.name}" - ')
        )
    return problems


def _obsolete_handler_keys(command: Command) -> list[str]:
    found = []
    for w_index, wrapper in enumerate(command.xnat):
        for h_index, handler in enumerate(wrapper.output_handlers):
            if "as-a-child-of-wrapper-input" in handler.given_keys:
                found.append(
                    f"xnat[{w_index}].output-handlers[{h_index}].as-a-child-of-wrapper-input"
                )
    return found


def _command_level_problems(command: Command, prefix: str) -> list[str]:
    problems: list[str] = []
    for command_input in command.inputs:
        if command_input.type not in COMMAND_INPUT_TYPES and command_input.type != "File":
            problems.append(
                prefix + f'input "{command_input.name}" has unknown type "{command_input.type}", '
                'which XNAT stores as "string". Known types: ' + ", ".join(COMMAND_INPUT_TYPES)
            )
    provided = {command_input.effective_replacement_key for command_input in command.inputs}
    for key in _TEMPLATE_KEY.findall(command.command_line or ""):
        if key not in provided:
            problems.append(
                prefix + f'command-line has "{key}", but no command input has that replacement '
                "key, so it reaches the container as is. Add an input or fix the key."
            )
    for mount in command.mounts:
        if mount.path and not mount.path.startswith("/"):
            problems.append(
                prefix + f'mount "{mount.name}" path "{mount.path}" is not absolute; use a '
                "path such as /input."
            )
    for name in RESERVED_ENVIRONMENT_VARIABLES:
        if name in command.environment_variables:
            problems.append(
                prefix + f'environment variable "{name}" is set by the container service at '
                "launch; remove it."
            )
    return problems


def _wrapper_problems(command: Command, wrapper: CommandWrapper, where: str) -> list[str]:
    problems: list[str] = []
    if not wrapper.contexts:
        problems.append(
            where + 'has no "contexts", so XNAT offers it on no object; add the XSI type it '
            'runs on, e.g. "xnat:imageSessionData".'
        )
    if len(wrapper.external_inputs) != 1:
        problems.append(
            where + f"has {len(wrapper.external_inputs)} external inputs; exactly one is needed "
            "to launch it from XNAT."
        )
    mount_names = {mount.name for mount in command.mounts}
    command_input_names = {command_input.name for command_input in command.inputs}
    inputs = {wrapper_input.name: wrapper_input for wrapper_input in wrapper.inputs}
    for wrapper_input in wrapper.inputs:
        mount = wrapper_input.provides_files_for_command_mount
        if mount is not None and mount not in mount_names:
            problems.append(
                where + f'input "{wrapper_input.name}" provides files for unknown mount '
                f'"{mount}". Known mounts: ' + ", ".join(sorted(str(m) for m in mount_names))
            )
        if mount is not None and wrapper_input.type not in MOUNTABLE_WRAPPER_INPUT_TYPES:
            problems.append(
                where + f'input "{wrapper_input.name}": I don\'t know how to provide files to a '
                f'mount from an input of type "{_ENUM_NAMES.get(wrapper_input.type, "null")}". '
                f'(XNAT\'s launch error; mount "{mount}" needs one of: '
                + ", ".join(MOUNTABLE_WRAPPER_INPUT_TYPES)
                + ")"
            )
        target = wrapper_input.provides_value_for_command_input
        if target is not None and target not in command_input_names:
            problems.append(
                where + f'input "{wrapper_input.name}" provides a value for unknown command '
                f'input "{target}". Known command inputs: '
                + ", ".join(sorted(str(n) for n in command_input_names))
            )
    for derived in wrapper.derived_inputs:
        parent = inputs.get(derived.derived_from_wrapper_input or "")
        if parent is None or derived.type not in WRAPPER_INPUT_TYPES:
            continue  # XNAT already refuses these
        if derived.type in ("boolean", "number"):
            problems.append(
                where + f'derived input "{derived.name}" has type "{derived.type}", which XNAT '
                'cannot derive; use "string".'
            )
        elif parent.type not in DERIVABLE_FROM.get(derived.type, frozenset()):
            problems.append(
                where + f'An input of type "{derived.type}" cannot be derived from an input of '
                f'type "{parent.type}". (derived input "{derived.name}" from '
                f'"{parent.name}")'
            )
    fed_mounts = {
        wrapper_input.provides_files_for_command_mount: wrapper_input.name
        for wrapper_input in wrapper.inputs
        if wrapper_input.provides_files_for_command_mount
    }
    writable = {mount.name: mount.writable for mount in command.mounts}
    for output in command.outputs:
        if output.mount in fed_mounts and not writable.get(output.mount, False):
            problems.append(
                where + f'output "{output.name}" is on mount "{output.mount}", which input '
                f'"{fed_mounts[output.mount]}" fills read-only from the archive; use an empty '
                "writable mount for outputs."
            )
    return problems
