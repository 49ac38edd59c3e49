from __future__ import annotations

from pathlib import Path

import pytest

from tests.runner.fake_xnat import FakeScan, FakeSession, FakeXnat
from xnat_plugin.commands.model import Command, load_commands
from xnat_plugin.runner.resolve import CommandResolutionError, preresolve, resolve_wrapper


def reference_command(reference_dir: Path, name: str) -> Command:
    return load_commands(reference_dir / "container-service-commands" / name)[0]


def two_scan_session(second_type: str = "OTHER") -> FakeSession:
    return FakeSession(
        "XNAT_E00001",
        "CT_001",
        scans=[
            FakeScan("1", "SCANTYPE", {"DICOM": ["a.dcm", "b.dcm"], "SNAPSHOTS": ["s.gif"]}),
            FakeScan("2", second_type, {"DICOM": ["c.dcm"]}),
        ],
        assessors=[("XNAT_E00002", "CT_001_manual_SEG", "icr:roiCollectionData")],
    )


def test_session_wrapper_derives_the_matching_scan_its_dicom_and_properties(
    reference_dir: Path,
) -> None:
    command = reference_command(reference_dir, "commandResolutionTest-command.json")
    xnat = FakeXnat(two_scan_session())
    resolved = resolve_wrapper(
        command, "session-scan-resource", "/experiments/XNAT_E00001", {}, xnat
    )
    assert resolved.input_values["session"] == "/archive/experiments/XNAT_E00001"
    assert resolved.input_values["scan"] == "/archive/experiments/XNAT_E00001/scans/1"
    assert resolved.input_values["dicom"] == (
        "/archive/experiments/XNAT_E00001/scans/1/resources/DICOM"
    )
    assert resolved.input_values["scan-id"] == "1"
    assert resolved.input_values["whatever"] == "1"
    assert resolved.input_values["frames"] == "3"
    assert resolved.input_values["modality"] == "CT"
    assert resolved.input_values["series-description"] == "SCANTYPE series"
    assert resolved.command_line == "echo hello world"
    assert resolved.project == "P1"


def test_two_matching_scans_without_multiple_are_refused_with_xnats_message(
    reference_dir: Path,
) -> None:
    command = reference_command(reference_dir, "commandResolutionTest-command.json")
    xnat = FakeXnat(two_scan_session(second_type="OTHER_SCANTYPE"))
    with pytest.raises(CommandResolutionError, match='"scan"  does not have a unique'):
        resolve_wrapper(command, "session-scan-resource", "/experiments/XNAT_E00001", {}, xnat)


def test_a_multiple_derived_input_collects_every_matching_scan_id(reference_dir: Path) -> None:
    command = reference_command(reference_dir, "commandResolutionTest-command.json")
    xnat = FakeXnat(two_scan_session(second_type="OTHER_SCANTYPE"))
    resolved = resolve_wrapper(command, "session-scan-mult", "/experiments/XNAT_E00001", {}, xnat)
    assert resolved.input_values["whatever"] == "[1, 2]"


def test_a_user_value_replaces_the_default_used_in_a_matcher_template(
    reference_dir: Path,
) -> None:
    command = reference_command(reference_dir, "commandResolutionTest-command.json")
    xnat = FakeXnat(two_scan_session())
    resolved = resolve_wrapper(
        command,
        "session-scan-resource",
        "/experiments/XNAT_E00001",
        {"T1-scantype": '"OTHER"'},
        xnat,
    )
    assert resolved.input_values["scan-id"] == "2"


def test_a_session_assessor_and_its_label_are_derived(reference_dir: Path) -> None:
    command = reference_command(reference_dir, "commandResolutionTest-command.json")
    resolved = resolve_wrapper(
        command, "session-assessor", "/experiments/XNAT_E00001", {}, FakeXnat(two_scan_session())
    )
    assert resolved.input_values["assessor-label"] == "CT_001_manual_SEG"


def test_a_scan_wrapper_with_two_resources_cannot_pick_one(reference_dir: Path) -> None:
    command = reference_command(reference_dir, "commandResolutionTest-command.json")
    with pytest.raises(CommandResolutionError, match='"a-resource"'):
        resolve_wrapper(
            command,
            "scan-resource-file",
            "/experiments/XNAT_E00001/scans/1",
            {},
            FakeXnat(two_scan_session()),
        )


def test_a_scan_wrapper_takes_the_resource_the_user_names(reference_dir: Path) -> None:
    command = reference_command(reference_dir, "commandResolutionTest-command.json")
    with pytest.raises(CommandResolutionError, match='"a-file"'):
        # DICOM holds two files and `a-file` is not multiple: XNAT refuses as well.
        resolve_wrapper(
            command,
            "scan-resource-file",
            "/experiments/XNAT_E00001/scans/1",
            {"a-resource": "DICOM"},
            FakeXnat(two_scan_session()),
        )
    resolved = resolve_wrapper(
        command,
        "scan-resource-file",
        "/experiments/XNAT_E00001/scans/2",
        {"a-resource": "DICOM"},
        FakeXnat(two_scan_session()),
    )
    assert resolved.input_values["a-file-path"] == "c.dcm"
    assert resolved.input_values["whatever"] == "2"


def test_params_fill_flags_and_blank_out_an_unset_optional_input(reference_dir: Path) -> None:
    command = reference_command(reference_dir, "params-command.json")
    resolved = resolve_wrapper(
        command,
        "blank-wrapper",
        None,
        {"REQUIRED_NO_FLAG": "first", "REQUIRED_WITH_FLAG": "second"},
        FakeXnat(),
    )
    assert resolved.command_line == "echo first --flag second "


def test_missing_required_params_are_named_in_one_message(reference_dir: Path) -> None:
    command = reference_command(reference_dir, "params-command.json")
    with pytest.raises(
        CommandResolutionError,
        match="Missing values for required inputs: REQUIRED_NO_FLAG, REQUIRED_WITH_FLAG.",
    ):
        resolve_wrapper(command, "blank-wrapper", None, {}, FakeXnat())


def test_select_many_defaults_use_each_multiple_delimiter(reference_dir: Path) -> None:
    command = reference_command(reference_dir, "select-command.json")
    resolved = resolve_wrapper(command, "multiple", None, {}, FakeXnat())
    assert resolved.command_line == (
        "echo --flag=scan1 --flag=scan2 --flag scan1 --flag scan2 'scan1 scan2' "
        "scan1,scan2 scan1 scan2 scan1"
    )


@pytest.mark.parametrize("illegal", [";", "&&", "||", "`", "("])
def test_a_value_with_a_shell_control_string_is_refused_with_xnats_message(
    reference_dir: Path, illegal: str
) -> None:
    command = reference_command(reference_dir, "illegal-args-command.json")
    with pytest.raises(CommandResolutionError) as refused:
        resolve_wrapper(
            command, "identity-wrapper", None, {"ANYTHING": f"x {illegal} y"}, FakeXnat()
        )
    assert str(refused.value) == (
        f'Input "ANYTHING" has a value containing illegal string "{illegal}".'
    )


def test_a_default_value_with_a_parenthesis_is_refused_too() -> None:
    command = Command.model_validate(
        {
            "name": "shape",
            "image": "busybox:latest",
            "command-line": "run #PATCH#",
            "inputs": [{"name": "PATCH", "default-value": "(96,96,96)"}],
            "xnat": [{"name": "w", "external-inputs": [], "derived-inputs": []}],
        }
    )
    with pytest.raises(CommandResolutionError, match='"PATCH" has a value containing illegal'):
        resolve_wrapper(command, "w", None, {}, FakeXnat())


def context_command(contexts: list[str]) -> Command:
    return Command.model_validate(
        {
            "name": "ctx",
            "image": "busybox:latest",
            "command-line": "echo #LABEL#",
            "inputs": [{"name": "LABEL", "command-line-flag": "--label", "required": True}],
            "mounts": [{"name": "in", "path": "/input"}, {"name": "out", "path": "/output"}],
            "outputs": [{"name": "o", "mount": "out", "required": True}],
            "xnat": [
                {
                    "name": "w",
                    "contexts": contexts,
                    "external-inputs": [
                        {
                            "name": "session",
                            "type": "Session",
                            "provides-files-for-command-mount": "in",
                        }
                    ],
                    "derived-inputs": [
                        {
                            "name": "label",
                            "type": "string",
                            "derived-from-wrapper-input": "session",
                            "derived-from-xnat-object-property": "label",
                            "provides-value-for-command-input": "LABEL",
                        }
                    ],
                    "output-handlers": [
                        {
                            "name": "h",
                            "accepts-command-output": "o",
                            "as-a-child-of": "session",
                            "label": "OUT_#LABEL#",
                        }
                    ],
                }
            ],
        }
    )


def test_an_image_session_context_accepts_a_ct_session_and_mounts_it() -> None:
    resolved = resolve_wrapper(
        context_command(["xnat:imageSessionData"]),
        "w",
        "/archive/experiments/XNAT_E00001",
        {},
        FakeXnat(two_scan_session()),
    )
    assert resolved.command_line == "echo --label CT_001"
    assert resolved.mount("in").source is not None
    assert resolved.mount("in").source.uri == "/archive/experiments/XNAT_E00001"
    assert not resolved.mount("in").writable
    assert resolved.mount("out").source is None and resolved.mount("out").writable
    assert [o.label for o in resolved.outputs] == ["OUT_CT_001"]
    assert resolved.outputs[0].parent is not None


def test_a_session_outside_the_wrapper_contexts_is_refused() -> None:
    with pytest.raises(CommandResolutionError, match="contexts are xnat:mrSessionData"):
        resolve_wrapper(
            context_command(["xnat:mrSessionData"]),
            "w",
            "/experiments/XNAT_E00001",
            {},
            FakeXnat(two_scan_session()),
        )


def test_a_target_of_the_wrong_type_resolves_nothing_and_is_refused() -> None:
    with pytest.raises(CommandResolutionError, match='"label" could not be resolved'):
        resolve_wrapper(
            context_command(["xnat:imageSessionData"]),
            "w",
            "/experiments/XNAT_E00001/scans/1",
            {},
            FakeXnat(two_scan_session()),
        )


def test_project_configuration_overrides_defaults_and_handler_labels(
    reference_dir: Path,
) -> None:
    command = reference_command(reference_dir, "params-command.json")
    resolved = resolve_wrapper(
        command,
        "blank-wrapper",
        None,
        {"REQUIRED_WITH_FLAG": "b"},
        FakeXnat(),
        project_config={"inputs": {"REQUIRED_NO_FLAG": {"default-value": "from-project"}}},
    )
    assert resolved.command_line.startswith("echo from-project --flag b")


def test_preresolve_lists_every_scan_a_scan_input_can_take(reference_dir: Path) -> None:
    command = reference_command(reference_dir, "commandResolutionTest-command.json")
    report = preresolve(
        command,
        "session-scan-mult-uri",
        "/experiments/XNAT_E00001",
        FakeXnat(two_scan_session(second_type="OTHER_SCANTYPE")),
    )
    values = [v["value"] for v in report["inputs"]["scan"]["values"]]
    assert values == [
        "/archive/experiments/XNAT_E00001/scans/1",
        "/archive/experiments/XNAT_E00001/scans/2",
    ]
    assert report["inputs"]["scan"]["parent"] == "session"


def test_preresolve_refuses_a_required_input_nothing_can_fill(reference_dir: Path) -> None:
    command = reference_command(reference_dir, "commandResolutionTest-command.json")
    with pytest.raises(CommandResolutionError, match="cannot be resolved using the provided"):
        preresolve(
            command,
            "session-scan-resource",
            "/experiments/XNAT_E00001",
            FakeXnat(FakeSession("XNAT_E00001", "CT_001", scans=[FakeScan("1", "NOPE")])),
        )


def test_a_sensitive_input_value_is_masked_in_the_resolved_record() -> None:
    command = Command.model_validate(
        {
            "name": "secret",
            "image": "busybox:latest",
            "command-line": "login #TOKEN#",
            "inputs": [{"name": "TOKEN", "sensitive": True, "required": True}],
            "xnat": [{"name": "w"}],
        }
    )
    resolved = resolve_wrapper(command, "w", None, {"TOKEN": "hunter2"}, FakeXnat())
    assert resolved.command_line == "login hunter2"
    assert resolved.to_json()["inputs"]["TOKEN"] == "*****"
    assert "hunter2" not in str(resolved.to_json())


def test_the_launch_names_its_root_input_explicitly() -> None:
    command = context_command(["xnat:imageSessionData"])
    resolved = resolve_wrapper(
        command,
        "w",
        "/experiments/XNAT_E00001",
        {},
        FakeXnat(two_scan_session()),
        root_input="session",
    )
    assert resolved.input_values["label"] == "CT_001"
    with pytest.raises(CommandResolutionError, match='no external input "nope"'):
        resolve_wrapper(command, "w", "/experiments/XNAT_E00001", {}, FakeXnat(), root_input="nope")


def scan_mount_command(*, required: bool, handler_parent: str = "session") -> Command:
    return Command.model_validate(
        {
            "name": "scan-mount",
            "image": "busybox:latest",
            "command-line": "ls /input",
            "mounts": [{"name": "in", "path": "/input"}, {"name": "out", "path": "/output"}],
            "outputs": [{"name": "o", "mount": "out", "required": True}],
            "xnat": [
                {
                    "name": "w",
                    "contexts": ["xnat:imageSessionData"],
                    "external-inputs": [{"name": "session", "type": "Session"}],
                    "derived-inputs": [
                        {
                            "name": "scan",
                            "type": "Scan",
                            "derived-from-wrapper-input": "session",
                            "required": required,
                            "provides-files-for-command-mount": "in",
                        }
                    ],
                    "output-handlers": [
                        {
                            "name": "h",
                            "accepts-command-output": "o",
                            "as-a-child-of": handler_parent,
                            "label": "OUT",
                        }
                    ],
                }
            ],
        }
    )


def test_a_mount_fed_by_an_input_with_several_values_is_refused() -> None:
    with pytest.raises(CommandResolutionError, match='"scan" has multiple resolved values'):
        resolve_wrapper(
            scan_mount_command(required=False),
            "w",
            "/experiments/XNAT_E00001",
            {},
            FakeXnat(two_scan_session()),
        )


def test_an_output_under_an_input_without_a_unique_value_is_refused() -> None:
    with pytest.raises(CommandResolutionError, match="does not have a uniquely resolved value"):
        resolve_wrapper(
            scan_mount_command(required=False, handler_parent="scan").model_copy(
                update={"mounts": []}
            ),
            "w",
            "/experiments/XNAT_E00001",
            {},
            FakeXnat(two_scan_session()),
        )


def test_the_user_picks_one_of_several_scans_by_its_uri() -> None:
    resolved = resolve_wrapper(
        scan_mount_command(required=True, handler_parent="scan"),
        "w",
        "/experiments/XNAT_E00001",
        {"scan": "/archive/experiments/XNAT_E00001/scans/2"},
        FakeXnat(two_scan_session()),
    )
    assert resolved.mount("in").source is not None
    assert resolved.mount("in").source.id == "2"
    assert resolved.outputs[0].parent is not None
    assert resolved.outputs[0].parent.uri.endswith("/scans/2")


def test_a_matcher_xnat_could_not_compile_fails_the_resolution() -> None:
    command = scan_mount_command(required=True)
    command.xnat[0].derived_inputs[0].matcher = "@.scan-type = 'CT'"
    with pytest.raises(CommandResolutionError, match="not a valid JSONPath filter"):
        resolve_wrapper(command, "w", "/experiments/XNAT_E00001", {}, FakeXnat(two_scan_session()))


def test_a_value_can_point_into_the_command_with_a_marked_jsonpath() -> None:
    command = Command.model_validate(
        {
            "name": "pointer",
            "image": "busybox:latest",
            "command-line": "echo #A# #B#",
            "inputs": [
                {"name": "A", "default-value": "alpha"},
                {"name": "B", "default-value": "^$.inputs[?(@.name == 'A')].default-value^-2"},
            ],
            "xnat": [{"name": "w", "description": "wrapped"}],
        }
    )
    resolved = resolve_wrapper(command, "w", None, {}, FakeXnat())
    assert resolved.command_line == "echo alpha alpha-2"
    resolved = resolve_wrapper(command, "w", None, {"A": "^wrapper:$.description^"}, FakeXnat())
    assert resolved.command_line.startswith("echo wrapped ")
    with pytest.raises(CommandResolutionError, match="returned multiple results"):
        resolve_wrapper(command, "w", None, {"A": "^$.inputs[*].name^"}, FakeXnat())
