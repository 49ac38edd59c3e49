"""Single rules of command validation, each on a small command that breaks just that rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from xnat_plugin.commands.model import Command
from xnat_plugin.commands.validation import validate_command

PREFIX = 'Command "demo" - '
WRAPPER = PREFIX + 'wrapper "on-session" - '


def good_command() -> dict[str, Any]:
    return {
        "name": "demo",
        "image": "example/demo:1.0",
        "command-line": "run #SESSION_ID# --out /output",
        "override-entrypoint": True,
        "mounts": [
            {"name": "in", "path": "/input"},
            {"name": "out", "path": "/output", "writable": True},
        ],
        "inputs": [{"name": "SESSION_ID", "required": True}],
        "outputs": [{"name": "result", "mount": "out", "required": True}],
        "xnat": [
            {
                "name": "on-session",
                "label": "Demo",
                "contexts": ["xnat:imageSessionData"],
                "external-inputs": [
                    {"name": "session", "type": "Session", "provides-files-for-command-mount": "in"}
                ],
                "derived-inputs": [
                    {
                        "name": "session-id",
                        "type": "string",
                        "derived-from-wrapper-input": "session",
                        "derived-from-xnat-object-property": "id",
                        "provides-value-for-command-input": "SESSION_ID",
                    }
                ],
                "output-handlers": [
                    {
                        "name": "result-resource",
                        "accepts-command-output": "result",
                        "as-a-child-of": "session",
                        "type": "Resource",
                        "label": "RESULT",
                    }
                ],
            }
        ],
    }


def check(data: dict[str, Any], **kwargs: Any) -> Any:
    return validate_command(Command.model_validate(data), **kwargs)


def test_the_good_command_is_clean_even_when_strict() -> None:
    report = check(good_command(), strict=True)
    assert report.errors == [] and report.warnings == []


def test_blank_name_is_refused_first() -> None:
    data = good_command() | {"name": " "}
    assert check(data).errors[0] == "Command name cannot be blank."


def test_image_without_tag_is_refused_on_update() -> None:
    data = good_command() | {"image": "localhost:5000/demo"}
    assert check(data, registering=False).errors == [
        PREFIX + "image name must include version tag. e.g. image_name:tag"
    ]


def test_unknown_command_type_is_refused() -> None:
    data = good_command() | {"type": "singularity"}
    assert check(data).errors == [
        PREFIX + 'Cannot validate command of type "singularity". Known types: docker, '
        "docker-setup, docker-wrapup"
    ]


def test_duplicate_mount_input_and_output_names_are_refused() -> None:
    data = good_command()
    data["mounts"].append({"name": "out", "path": "/other", "writable": True})
    data["inputs"].append({"name": "SESSION_ID"})
    data["outputs"].append({"name": "result", "mount": "out"})
    errors = check(data).errors
    assert PREFIX + 'mount name "out" is not unique.' in errors
    assert PREFIX + 'input name "SESSION_ID" is not unique.' in errors
    assert PREFIX + 'output name "result" is not unique.' in errors


def test_output_on_unknown_mount_is_refused() -> None:
    data = good_command()
    data["outputs"][0]["mount"] = "elsewhere"
    assert (
        PREFIX + 'output "result" references unknown mount "elsewhere". Known mounts: in, out'
        in check(data).errors
    )


def test_unhandled_output_is_refused_for_each_wrapper() -> None:
    data = good_command()
    data["outputs"].append({"name": "extra", "mount": "out", "required": True})
    assert check(data).errors == [
        WRAPPER + 'command output "extra" is not handled by any output handler.'
    ]


def test_handler_may_hang_under_an_earlier_handler_but_not_a_later_one() -> None:
    data = good_command()
    data["outputs"].append({"name": "files", "mount": "out", "path": "files", "required": True})
    child = {
        "name": "files-resource",
        "accepts-command-output": "files",
        "as-a-child-of": "result-resource",
        "label": "FILES",
    }
    later = copy.deepcopy(data)
    later["xnat"][0]["output-handlers"].insert(0, child)
    data["xnat"][0]["output-handlers"].append(child)
    assert check(data).errors == []
    (error,) = check(later).errors
    assert error.startswith(
        WRAPPER + "output handler does not refer to a known wrapper input or output. "
        '"as-a-child-of": "result-resource".'
    )
    assert error.endswith("Known outputs (so far): .")


def test_resource_handler_needs_a_label_and_handler_types_are_checked() -> None:
    data = good_command()
    handler = data["xnat"][0]["output-handlers"][0]
    del handler["label"]
    assert check(data).errors == [
        WRAPPER + 'Command wrapper output "result-resource" - when type = Resource, label cannot '
        "be blank."
    ]
    handler["type"] = "Folder"
    assert check(data).errors == [
        WRAPPER + 'Command wrapper output "result-resource" - Unknown type "Folder". Known '
        "types: Resource, Assessor, Scan"
    ]


def test_wrapper_input_types_are_case_sensitive() -> None:
    data = good_command()
    data["xnat"][0]["external-inputs"][0]["type"] = "session"
    (error,) = check(data).errors
    assert error.startswith(
        WRAPPER + 'Command wrapper input "session" - Unknown type "session". Known types: '
    )


def test_derived_input_from_unknown_input_is_refused() -> None:
    data = good_command()
    data["xnat"][0]["derived-inputs"][0]["derived-from-wrapper-input"] = "subject"
    assert check(data).errors == [
        WRAPPER + 'derived input "session-id" is derived from an unknown XNAT input "subject". '
        "Known inputs: session, session-id"
    ]


def test_select_default_must_be_among_select_values() -> None:
    data = good_command()
    data["inputs"].append(
        {"name": "net", "type": "select-one", "default-value": "VNet", "select-values": ["UNet"]}
    )
    assert check(data).errors == [
        PREFIX + 'Command input "net" default value "VNet" is not one of the select-values "[UNet]"'
    ]
    data["inputs"][-1] |= {"type": "select-many", "default-value": '["UNet", "VNet"]'}
    assert check(data).errors == [
        PREFIX + 'Command input "net" one or more default values in "[UNet, VNet]" is not in '
        'the list of select-values "[UNet]"'
    ]


def test_input_names_allow_only_letters_digits_dash_and_underscore() -> None:
    data = good_command()
    data["inputs"].append({"name": "model name"})
    assert check(data).errors == [
        PREFIX + 'Command input "model name" name should contain only alphanumeric, _ and - '
        "characters."
    ]


@pytest.mark.parametrize("reserved", ["XNAT_HOST", "XNAT_USER", "XNAT_PASS"])
def test_secrets_may_not_target_xnat_credentials(reserved: str) -> None:
    data = good_command()
    data["secrets"] = [
        {
            "source": {"type": "system-property", "identifier": "some.prop"},
            "destination": {"type": "environment-variable", "identifier": reserved},
        }
    ]
    assert check(data).errors == [
        PREFIX + f' Secrets use reserved environment variable name "{reserved}"'
    ]


def test_bad_ulimit_is_refused() -> None:
    data = good_command() | {"ulimits": {"nofile": "1:2:3"}}
    assert check(data).errors == [
        PREFIX + ' incorrect ulimit format: 1:2:3. Should be "name" : "softlimit:hardlimit" or '
        '"name" : "limit"'
    ]


def test_setup_commands_may_not_declare_inputs() -> None:
    data = {
        "name": "setup",
        "image": "x/setup:1",
        "type": "docker-setup",
        "inputs": [{"name": "a"}],
    }
    assert check(data).errors == ['Command "setup" -  Setup commands cannot declare any inputs.']


# ----- what XNAT lets through: warnings, errors when strict


def test_command_line_key_no_input_fills_is_a_warning() -> None:
    data = good_command() | {"command-line": "run #SESSION_ID# #MODEL#"}
    report = check(data)
    assert report.ok
    assert report.warnings == [
        PREFIX + 'command-line has "#MODEL#", but no command input has that replacement key, so '
        "it reaches the container as is. Add an input or fix the key."
    ]
    assert check(data, strict=True).errors == report.warnings


def test_project_to_session_derivation_is_flagged_as_xnat_cannot_resolve_it() -> None:
    data = good_command()
    wrapper = data["xnat"][0]
    wrapper["contexts"] = ["xnat:projectData"]
    wrapper["external-inputs"][0] = {"name": "project", "type": "Project"}
    wrapper["derived-inputs"][0] = {
        "name": "session",
        "type": "Session",
        "derived-from-wrapper-input": "project",
        "provides-files-for-command-mount": "in",
    }
    warnings = check(data).warnings
    assert any(
        'An input of type "Session" cannot be derived from an input of type "Project".' in w
        for w in warnings
    )


def test_mounting_a_string_input_is_flagged_with_xnats_launch_message() -> None:
    data = good_command()
    data["xnat"][0]["derived-inputs"][0]["provides-files-for-command-mount"] = "in"
    (warning,) = check(data).warnings
    assert 'I don\'t know how to provide files to a mount from an input of type "STRING"' in warning


def test_unknown_mount_and_unknown_command_input_targets_are_flagged() -> None:
    data = good_command()
    data["xnat"][0]["external-inputs"][0]["provides-files-for-command-mount"] = "inputs"
    data["xnat"][0]["derived-inputs"][0]["provides-value-for-command-input"] = "SESSIONID"
    warnings = check(data).warnings
    assert any('provides files for unknown mount "inputs"' in w for w in warnings)
    assert any('provides a value for unknown command input "SESSIONID"' in w for w in warnings)


def test_obsolete_handler_key_and_ignored_ipc_mode_are_flagged_but_still_read() -> None:
    data = good_command() | {"ipc-mode": "host"}
    handler = data["xnat"][0]["output-handlers"][0]
    handler["as-a-child-of-wrapper-input"] = handler.pop("as-a-child-of")
    command = Command.model_validate(data)
    assert command.xnat[0].output_handlers[0].as_a_child_of == "session"
    assert command.ipc_mode == "host"
    assert command.to_dict()["ipcMode"] == "host"
    warnings = validate_command(command).warnings
    assert any("as-a-child-of-wrapper-input" in w and "obsolete" in w for w in warnings)
    assert any('"ipc-mode" is ignored' in w for w in warnings)


def test_outputs_written_into_a_read_only_input_mount_are_flagged() -> None:
    data = good_command()
    data["outputs"][0]["mount"] = "in"
    (warning,) = check(data).warnings
    assert 'output "result" is on mount "in"' in warning
