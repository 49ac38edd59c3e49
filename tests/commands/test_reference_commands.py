"""Every container-service example command gets XNAT 3.7.3's verdict, and survives a round trip."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import reference_or_skip
from xnat_plugin.commands.model import Command, load_commands
from xnat_plugin.commands.validation import validate_command

EXAMPLES = reference_or_skip() / "container-service-commands"
EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.json"))

# Upstream: bad-command.json fails Command.validate() with 8 errors (CommandEntityTest);
# commands.json has no image (DockerRestApiTest fills it in from the image it labels); every
# other example registers. ecatHeaderDump has an untagged image, which registration tags
# `:latest` (see test_untagged_image_...).
REFUSED = {"bad-command.json"}
NEEDS_IMAGE = {"commands.json"}

BAD_COMMAND_ERRORS = [
    'Command input "some_bad_config" is designated as type "select-one" but doesn\'t list '
    "select-values. Note that command inputs with values provided by xnat inputs shouldn't be "
    "designated as select (they'll automatically render as a select if their xnat input resolves "
    "to more than one value).",
    'Command input "some_bad_config2" has select-values set, but is not a select type.',
    'wrapper "bad-command" - derived input "scan" is designated as a "multiple" input, which '
    "means it cannot provide files for command mounts (consider mounting the parent element).",
    'wrapper "bad-command" - derived input "scan" is designated as a "multiple" input, which'
    "means it must directly provide values for some command input.",
    'wrapper "bad-command" - output handler "output-handler" has "as-a-child-of": "scan", but '
    "that input is set to allow multiple values.",
    'wrapper "bad-command" - output handler "output-handler2" has "as-a-child-of": "scan2", but '
    'that input\'s value is set to "id", which will cause the upload to fail (a "uri" is '
    "required for upload).",
    'wrapper "bad-command" - external input "session" provides values for command input '
    '"some_config", which is a select type. Note that command inputs with values provided by '
    "xnat inputs shouldn't be designated as select (they'll automatically render as a select if "
    "their xnat input resolves to more than one value).",
    'wrapper "bad-command" - derived input "scan3" provides values for command input '
    '"some_mult_config", which is a select type. Note that command inputs with values provided '
    "by xnat inputs shouldn't be designated as select (they'll automatically render as a select "
    "if their xnat input resolves to more than one value).",
]


def _raw_commands(name: str) -> list[dict[str, Any]]:
    data = json.loads((EXAMPLES / name).read_text())
    return data if isinstance(data, list) else [data]


def test_all_twenty_five_reference_files_are_present() -> None:
    assert len(EXAMPLE_FILES) == 25


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_reference_command_gets_xnats_registration_verdict(name: str) -> None:
    for command in load_commands(EXAMPLES / name):
        image = "xnat/label-test:1.0" if name in NEEDS_IMAGE else None
        report = validate_command(command, image=image)
        if name in REFUSED:
            assert not report.ok
        else:
            assert report.errors == [], report.errors


def test_bad_command_fails_with_exactly_xnats_eight_errors() -> None:
    (command,) = load_commands(EXAMPLES / "bad-command.json")
    report = validate_command(command)
    prefix = 'Command "hello-world1" - '
    assert len(report.errors) == 8
    assert sorted(report.errors) == sorted(prefix + message for message in BAD_COMMAND_ERRORS)


def test_label_commands_without_image_are_refused_unless_the_image_is_given() -> None:
    for command in load_commands(EXAMPLES / "commands.json"):
        assert validate_command(command).errors == [
            f'Command "{command.name}" - image name cannot be blank.'
        ]
        assert validate_command(command, image="xnat/dcm2niix").ok


def test_untagged_image_is_tagged_latest_on_registration_but_refused_on_update() -> None:
    (command,) = load_commands(EXAMPLES / "ecatHeaderDump-command.json")
    registered = validate_command(command)
    assert registered.ok
    assert any('"ecat-dump:latest"' in w for w in registered.warnings)
    updated = validate_command(command, registering=False)
    assert updated.errors == [
        'Command "ecat-dump" - image name must include version tag. e.g. image_name:tag'
    ]


def test_misspelled_wrapper_input_key_is_kept_and_warned_about() -> None:
    (command,) = load_commands(EXAMPLES / "illegal-args-command.json")
    assert command.unknown_keys() == ["xnat[0].external-inputs[0].provides-value-to-command-input"]
    report = validate_command(command)
    assert report.ok
    assert any("provides-value-to-command-input" in w for w in report.warnings)
    assert not validate_command(command, strict=True).ok


def test_wrappers_without_contexts_or_with_several_external_inputs_are_warned_about() -> None:
    (command,) = load_commands(EXAMPLES / "params-command.json")
    warnings = validate_command(command).warnings
    assert any('wrapper "blank-wrapper" - has no "contexts"' in w for w in warnings)
    assert any('wrapper "blank-wrapper" - has 0 external inputs' in w for w in warnings)
    assert any('wrapper "identity-wrapper" - has 3 external inputs' in w for w in warnings)


def test_clean_examples_give_no_warning() -> None:
    for name in ("cmdTmp.json", "project-mount-command.json", "testScanUpload-cmd.json"):
        (command,) = load_commands(EXAMPLES / name)
        assert validate_command(command, strict=True).ok, name


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_reference_command_round_trips_through_to_json(name: str) -> None:
    for raw, command in zip(_raw_commands(name), load_commands(EXAMPLES / name), strict=True):
        again = Command.model_validate_json(command.to_json())
        assert again == command
        assert again.to_json() == command.to_json()
        _assert_keys_are_xnats(command.to_dict(), raw, name)


def _assert_keys_are_xnats(written: Any, original: Any, where: str) -> None:
    """Every key written was in the original (we never invent keys or spellings)."""
    if isinstance(written, dict):
        assert isinstance(original, dict)
        for key, value in written.items():
            assert key in original, f"{where}: wrote {key!r}, not in the original"
            _assert_keys_are_xnats(value, original[key], f"{where}.{key}")
    elif isinstance(written, list) and written and isinstance(written[0], dict):
        for position, (item, source) in enumerate(zip(written, original, strict=True)):
            _assert_keys_are_xnats(item, source, f"{where}[{position}]")


def test_to_json_omits_defaults_but_keeps_non_default_values() -> None:
    (command,) = load_commands(EXAMPLES / "cmdTmp.json")
    written = command.to_dict()
    derived = written["xnat"][0]["derived-inputs"][0]
    assert "type" not in written  # "docker" is the default
    assert "required" not in derived  # wrapper inputs are required by default
    assert derived["user-settable"] is False
    assert written["outputs"][0]["required"] is True
    assert "writable" not in written["mounts"][0]
    assert written["mounts"][1]["writable"] is True


def test_registered_form_takes_the_given_image_tags_it_and_drops_ids() -> None:
    from xnat_plugin.commands.validation import as_registered

    (command,) = load_commands(EXAMPLES / "ecatHeaderDump-command.json")
    assert as_registered(command).image == "ecat-dump:latest"
    assert as_registered(command, image="site/ecat:2").image == "site/ecat:2"
    with_ids = command.model_copy(update={"id": 7})
    with_ids.xnat[0].id = 3
    registered = as_registered(with_ids)
    assert registered.id == 0 and registered.xnat[0].id == 0
    assert with_ids.xnat[0].id == 3  # the original is left alone
