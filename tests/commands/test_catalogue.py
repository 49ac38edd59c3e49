"""Our catalogue: valid without a warning, the step command lines of the contract, GPU requests."""

from __future__ import annotations

import shlex

import pytest

from xnat_plugin.commands.catalogue import (
    CPU,
    GPU,
    STEPS,
    all_commands,
    catalogue,
    command_json_name,
    content_version,
    step_commands,
)
from xnat_plugin.commands.input_filter import find_illegal_string
from xnat_plugin.commands.model import Command
from xnat_plugin.commands.validation import validate_command

# Options of each step's CLI, from the contracts between the parts.
CONTRACT_OPTIONS = {
    "containers.train": {
        "--project", "--model-name", "--output", "--network", "--labels", "--epochs", "--folds",
        "--patch-size", "--learning-rate", "--reference-pattern", "--seed", "--project-dir",
        "--device", "--scan-description", "--scan-type", "--min-frames", "--max-frames",
        "--init-from", "--loss",
    },
    "containers.infer": {
        "--input", "--model", "--model-name", "--output", "--session-id", "--project", "--subject",
        "--session-label", "--scan-id", "--assessor-label", "--tta", "--no-largest-component",
        "--device", "--sw-batch-size", "--roi-namespace", "--session-dir", "--channel-scans",
        "--overrides",
    },
    "containers.evaluate session": {
        "--session-id", "--project", "--output", "--session-dir", "--ai-pattern",
        "--reference-pattern", "--tolerance-mm", "--ai-assessor-id", "--seg-wait-seconds",
    },
    "containers.evaluate project": {"--project", "--output", "--models", "--run"},
    "containers.classify train": {
        "--project", "--model-name", "--output", "--label-field", "--label-csv", "--network",
        "--epochs", "--folds", "--roi-size", "--spacing", "--learning-rate", "--seed",
        "--project-dir", "--device", "--max-minutes", "--scan-description", "--scan-type",
        "--min-frames", "--max-frames",
    },
    "containers.classify evaluate-project": {
        "--project", "--output", "--label-field", "--label-csv", "--models", "--positive",
        "--threshold", "--run", "--resamples", "--seed",
    },
    "containers.classify infer": {
        "--session-id", "--project", "--model-name", "--model", "--output", "--input",
        "--scan-id", "--subject", "--session-label", "--assessor-label", "--project-dir",
        "--device", "--scan-description", "--scan-type", "--min-frames", "--max-frames",
        "--explain-layer",
    },
    "containers.detection evaluate-session": {
        "--session-id", "--project", "--output", "--session-dir", "--ai-pattern",
        "--reference-pattern", "--ai-assessor-id", "--labels", "--hit-rule", "--threshold",
    },
    "containers.detection infer-session": {
        "--input", "--model", "--model-name", "--output", "--overrides", "--session-id",
        "--project", "--subject", "--session-label", "--scan-id", "--threshold", "--device",
    },
    "containers.detection evaluate-project": {
        "--project", "--output", "--models", "--run", "--seed", "--resamples",
    },
}  # fmt: skip
SAMPLE_XNAT_VALUES = {
    "SESSION_ID": "XNAT_E00001",
    "PROJECT_ID": "LIVER",
    "SUBJECT_ID": "XNAT_S00001",
    "SESSION_LABEL": "CT_001",
    "SCAN_ID": "2",
}


def fill_command_line(command: Command, values: dict[str, str]) -> str:
    """XNAT's templating: each `#KEY#` becomes flag + separator + value, or "" when blank."""
    line = command.command_line or ""
    for command_input in command.inputs:
        value = values.get(command_input.name, command_input.default_value or "")
        if command_input.type == "boolean":
            chosen = command_input.true_value if value == "true" else command_input.false_value
            value = value if chosen is None else chosen
        if value and command_input.command_line_flag:
            separator = command_input.command_line_separator or " "
            value = f"{command_input.command_line_flag}{separator}{value}"
        line = line.replace(command_input.effective_replacement_key, value)
    return line


def step_and_options(line: str) -> tuple[str, list[str], list[str]]:
    words = shlex.split(line)
    assert words[:2] == ["python", "-m"]
    step = words[2]
    rest = words[3:]
    if (
        step in ("containers.evaluate", "containers.classify", "containers.detection")
        and rest
        and not rest[0].startswith("-")
    ):
        step, rest = f"{step} {rest[0]}", rest[1:]
    return step, [w for w in rest if w.startswith("--")], rest


@pytest.mark.parametrize("command", all_commands(), ids=lambda c: c.name)
def test_catalogue_command_validates_with_no_warning(command: Command) -> None:
    report = validate_command(command, strict=True)
    assert report.errors == []
    assert report.warnings == []


@pytest.mark.parametrize("command", all_commands(), ids=lambda c: c.name)
def test_command_line_uses_only_the_contracts_options(command: Command) -> None:
    line = fill_command_line(command, SAMPLE_XNAT_VALUES | {"tta": "true", "labels": "a,b"})
    step, options, _ = step_and_options(line)
    assert set(options) <= CONTRACT_OPTIONS[step], set(options) - CONTRACT_OPTIONS[step]
    assert "--output" in options and "--project" in options
    assert "#" not in line


def test_infer_command_line_reads_the_mounted_scan_and_model() -> None:
    infer, _classifier, _detector = step_commands("infer")
    line = fill_command_line(infer, SAMPLE_XNAT_VALUES | {"model-name": "organs"})
    words = shlex.split(line)
    assert words[words.index("--input") + 1] == "/input"
    # The model by name inside the mounted MONAI_MODELS, never a path built from the input.
    assert words[words.index("--model") + 1] == "/models"
    assert words[words.index("--model-name") + 1] == "organs"
    assert words[words.index("--scan-id") + 1] == "2"
    assert "--tta" not in words and "--no-largest-component" not in words
    flipped = shlex.split(
        fill_command_line(infer, SAMPLE_XNAT_VALUES | {"tta": "true", "largest-component": "false"})
    )
    assert "--tta" in flipped and "--no-largest-component" in flipped


def test_train_command_line_gives_the_project_archive_and_a_comma_patch_size() -> None:
    train, _classifier = step_commands("train")
    words = shlex.split(fill_command_line(train, SAMPLE_XNAT_VALUES))
    assert words[words.index("--project-dir") + 1] == "/project"
    assert words[words.index("--patch-size") + 1] == "96,96,96"
    assert words[words.index("--reference-pattern") + 1] == ".*manual.*"
    assert "--labels" not in words  # blank optional inputs drop their flag


@pytest.mark.parametrize("command", all_commands(), ids=lambda c: c.name)
def test_every_default_passes_xnats_input_filter(command: Command) -> None:
    for command_input in command.inputs:
        assert find_illegal_string(command_input.default_value) is None, command_input.name


@pytest.mark.parametrize("command", all_commands(), ids=lambda c: c.name)
def test_house_rules_for_our_commands(command: Command) -> None:
    assert command.override_entrypoint is True
    assert command.info_url and command.label and command.description
    assert command.outputs and all(output.required for output in command.outputs)
    assert command.shm_size is not None and command.shm_size >= 2 * 1024**3
    assert command.reserve_memory and command.limit_memory
    assert command.reserve_memory <= command.limit_memory
    names = [i.name for i in command.inputs] + [i.name for w in command.xnat for i in w.inputs]
    assert not [name for name in names if name.upper().startswith("XNAT_")]
    for wrapper in command.xnat:
        assert wrapper.label and wrapper.description
        for wrapper_input in wrapper.inputs:
            assert wrapper_input.label and wrapper_input.description
        for handler in wrapper.output_handlers:
            assert handler.type != "Resource" or handler.label


def test_gpu_builds_ask_for_a_gpu_on_every_backend_and_cpu_builds_do_not() -> None:
    for step in ("train", "infer"):
        for command in step_commands(step, GPU):
            assert command.runtime == "nvidia"
            assert command.generic_resources == {"gpu": "1"}
            assert command.image is not None and not command.image.endswith("-cpu")
    for step in STEPS:
        for command in step_commands(step, CPU):
            assert command.runtime is None and command.generic_resources is None
            assert command.name.endswith("-cpu") and str(command.image).endswith("-cpu")
            devices = [i for i in command.inputs if i.name == "device"]
            assert all(device.select_values == ["cpu"] for device in devices)


def test_wrapper_names_are_unique_across_the_catalogue() -> None:
    names = [wrapper.name for command in all_commands() for wrapper in command.xnat]
    assert len(names) == len(set(names)) == 24


def test_catalogue_files_are_one_per_image() -> None:
    files = catalogue()
    assert sorted(files) == sorted(
        command_json_name(step, variant) for step in STEPS for variant in (GPU, CPU)
    )
    assert [c.name for c in files["xnat-monai-evaluate.json"]] == [
        "xnat-monai-evaluate-session",
        "xnat-monai-evaluate-project",
        "xnat-monai-detect-evaluate-session",
        "xnat-monai-detect-evaluate-project",
        "xnat-monai-classify-evaluate-project",
    ]
    for name, commands in files.items():
        step = name.removeprefix("xnat-monai-").removesuffix(".json").removesuffix("-cpu")
        assert {c.image.split(":")[0] for c in commands if c.image} == {f"xnat-monai/{step}"}


def test_version_is_the_content_hash_and_changes_with_any_change() -> None:
    infer, _classifier, _detector = step_commands("infer")
    assert infer.version == content_version(infer)
    changed = infer.model_copy(update={"shm_size": (infer.shm_size or 0) + 1})
    assert content_version(changed) != infer.version
    relabelled = infer.model_copy(deep=True)
    relabelled.xnat[0].label = "another menu text"
    assert content_version(relabelled) != infer.version
    assert content_version(infer.model_copy(update={"version": "9"})) == infer.version


def test_train_runs_on_a_project_mounted_read_only_and_stores_into_monai_models() -> None:
    train, _classifier = step_commands("train")
    (wrapper,) = train.xnat
    assert wrapper.contexts == ["xnat:projectData"]
    (project,) = wrapper.external_inputs
    assert project.type == "Project" and project.load_children is False
    mount = train.mount(str(project.provides_files_for_command_mount))
    assert mount.path == "/project" and not mount.writable
    assert train.input("network").select_values == ["UNet", "SegResNet", "SwinUNETR", "DynUNet"]
    (handler,) = wrapper.output_handlers
    assert (handler.type, handler.label, handler.as_a_child_of) == (
        "Resource",
        "MONAI_MODELS",
        "project",
    )


def test_infer_mounts_the_scans_dicom_and_the_projects_models() -> None:
    infer, _classifier, _detector = step_commands("infer")
    wrapper = infer.wrapper("monai-segment-session")
    assert wrapper.contexts == ["xnat:imageSessionData"]
    scan = wrapper.input("scan")
    assert scan.type == "Scan" and scan.user_settable is True
    assert "'DICOM' in @.resources[*].label" in str(scan.matcher)
    dicom = wrapper.input("scan-dicom")
    assert infer.mount(str(dicom.provides_files_for_command_mount)).path == "/input"
    models = wrapper.input("models")
    assert models.matcher == "@.label == 'MONAI_MODELS'"
    assert wrapper.input(str(models.derived_from_wrapper_input)).type == "Project"
    assert infer.mount(str(models.provides_files_for_command_mount)).path == "/models"
    properties = {
        i.derived_from_xnat_object_property for i in wrapper.derived_inputs if i.type == "string"
    }
    assert {"id", "label", "project-id", "subject-id"} <= properties


def test_infer_with_several_scans_mounts_the_whole_session_instead_of_one_scan() -> None:
    """Each wrapper feeds one of /input and /session; the other stays an empty folder."""
    infer, _classifier, _detector = step_commands("infer")
    wrapper = infer.wrapper("monai-segment-session-scans")
    (session,) = wrapper.external_inputs
    assert session.type == "Session"
    assert infer.mount(str(session.provides_files_for_command_mount)).path == "/session"
    fed = {i.provides_files_for_command_mount for i in wrapper.inputs} - {None}
    assert fed == {"session", "models"}
    assert not any(i.type == "Scan" for i in wrapper.inputs)
    single = {
        i.provides_files_for_command_mount for i in infer.wrapper("monai-segment-session").inputs
    }
    assert "session" not in single and "input" in single
    words = shlex.split(fill_command_line(infer, SAMPLE_XNAT_VALUES | {"channel-scans": "T1=*t1*"}))
    assert words[words.index("--channel-scans") + 1] == "T1=*t1*"
    assert words[words.index("--session-dir") + 1] == "/session"


@pytest.mark.parametrize("name", ["monai-segment-session", "monai-segment-session-scans"])
def test_infer_uploads_an_roi_collection_with_its_files_under_it(name: str) -> None:
    infer, _classifier, _detector = step_commands("infer")
    wrapper = infer.wrapper(name)
    handlers = wrapper.output_handlers_in_upload_order()
    assessor = handlers[0]
    assert (assessor.type, assessor.xsi_type, assessor.as_a_child_of) == (
        "Assessor",
        "icr:roiCollectionData",
        "session",
    )
    assert infer.output(str(assessor.accepts_command_output)).path == "assessor.xml"
    children = {h.label: h.as_a_child_of for h in handlers[1:]}
    assert children == {name: assessor.name for name in ("SEG", "NIFTI", "REPORT")}


def test_evaluate_commands_write_a_qc_assessment_and_a_project_report() -> None:
    session, project, *_detection = step_commands("evaluate")
    session_wrapper, segmentation_wrapper = session.xnat
    assert session_wrapper.contexts == ["xnat:imageSessionData"]
    # What the event service launches on a new AI segmentation: rooted at the assessor.
    assert segmentation_wrapper.contexts == ["icr:roiCollectionData"]
    assert segmentation_wrapper.external_inputs[0].type == "Assessor"
    assert segmentation_wrapper.output_handlers == session_wrapper.output_handlers
    assert session.mount("session").path == "/session" and not session.mount("session").writable
    assessor = session_wrapper.output_handlers[0]
    assert (assessor.type, assessor.xsi_type) == ("Assessor", "xnat:qcAssessmentData")
    assert session_wrapper.output_handlers[1].as_a_child_of == assessor.name
    (project_wrapper,) = project.xnat
    assert project_wrapper.contexts == ["xnat:projectData"]
    assert project_wrapper.external_inputs[0].load_children is False
    assert project_wrapper.output_handlers[0].label == "MONAI_EVALUATION"


def test_evaluate_commands_ask_for_no_gpu_in_either_build() -> None:
    """The metrics run on the CPU; a GPU request would hold a GPU slot on Swarm/Kubernetes
    (`generic-resources`) and need the nvidia runtime on standalone Docker (`runtime`)."""
    for variant in (GPU, CPU):
        for command in step_commands("evaluate", variant):
            document = command.to_dict()
            assert "runtime" not in document and "generic-resources" not in document
            assert command.reserve_memory == 2048 and command.shm_size == 2 * 1024**3
