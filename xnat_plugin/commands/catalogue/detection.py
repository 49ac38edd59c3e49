"""The detection evaluation's two commands, in the evaluate image: one session's AI boxes
against its reference lesions, and a project's FROC report (`python -m containers.detection`).

They mirror the segmentation evaluation's commands (`evaluate.py`): the same image, hardware
(CPU only), assessor pair patterns and output handlers; the project report is a run folder in
the same project resource MONAI_EVALUATION.
"""

from __future__ import annotations

from xnat_plugin.commands.catalogue.evaluate import (
    EVALUATE_RESOURCES,
    REGEX_NOTE,
    metrics_handlers,
    project_report_output,
    project_report_wrapper,
    report_run_input,
)
from xnat_plugin.commands.catalogue.parts import (
    INFO_URL,
    Variant,
    image_name,
    output_mount,
    property_of,
    read_only_mount,
    session_inputs,
    value_input,
    with_hardware,
    xnat_value_input,
)
from xnat_plugin.commands.model import (
    Command,
    CommandInput,
    CommandOutput,
    CommandWrapper,
    ExternalInput,
)

SESSION_COMMAND_LINE = (
    "python -m containers.detection evaluate-session #SESSION_ID# #PROJECT_ID# "
    "--output /output --session-dir /session --ai-pattern '#ai-pattern#' "
    "--reference-pattern '#reference-pattern#' --hit-rule '#hit-rule#' #threshold# "
    "--labels '#labels#'"
)
PROJECT_COMMAND_LINE = (
    "python -m containers.detection evaluate-project #PROJECT_ID# --output /output #models# "
    "#run# #resamples#"
)


def _judging_inputs() -> list[CommandInput]:
    return [
        value_input(
            "hit-rule",
            "Hit rule",
            "When a finding hits a lesion: centre-in-box (its centre inside the lesion's box) "
            "or iou>=T (box overlap of at least T).",
            default="centre-in-box",
            required=True,
        ),
        value_input(
            "threshold",
            "Operating score",
            "Findings scoring at least this are counted in the session's figures (the FROC "
            "curve uses every score).",
            type="number",
            default="0.5",
            required=True,
            flag="--threshold",
        ),
        value_input(
            "labels",
            "Lesion labels",
            "Comma-separated labels whose components are lesions; empty: all.",
        ),
    ]


def detection_session_command(variant: Variant) -> Command:
    command = Command(
        name=f"xnat-monai-detect-evaluate-session{variant.suffix}",
        label=f"MONAI detection: evaluate session{variant.menu_suffix}",
        description=(
            "Compares a session's AI findings (a findings JSON, SEG or RTSTRUCT on an AI "
            "assessor) with its reference lesions (SEG or RTSTRUCT): hits, misses and false "
            "positives at the operating score, stored as an xnat:qcAssessmentData assessor "
            "with a report and a picture of the boxes."
        ),
        schema_version="1.0",
        info_url=INFO_URL,
        image=image_name("evaluate", variant),
        type="docker",
        command_line=SESSION_COMMAND_LINE,
        override_entrypoint=True,
        mounts=[read_only_mount("session", "/session"), output_mount()],
        inputs=[
            *session_inputs(labels=False),
            value_input(
                "ai-pattern",
                "AI findings pattern",
                "Regular expression on assessor labels that picks the AI findings (the newest "
                "match is used). " + REGEX_NOTE,
                default=".*_monai_.*",
                required=True,
            ),
            value_input(
                "reference-pattern",
                "Reference pattern",
                "Regular expression on assessor labels that picks the reference lesions. "
                + REGEX_NOTE,
                default=".*manual.*",
                required=True,
            ),
            *_judging_inputs(),
        ],
        outputs=[
            CommandOutput(
                name="assessor",
                description="The xnat:qcAssessmentData assessor XML.",
                required=True,
                mount="output",
                path="assessor.xml",
            ),
            CommandOutput(
                name="report",
                description="detection.json (figures, lesions, findings, provenance), "
                "detection.png.",
                required=True,
                mount="output",
                path="REPORT",
            ),
        ],
        xnat=[
            CommandWrapper(
                name=f"monai-detect-evaluate-session{variant.suffix}",
                label=f"MONAI: evaluate the AI findings{variant.menu_suffix}",
                description=(
                    "Count which of this session's reference lesions the AI found, and its "
                    "false positives; the figures appear as a QC assessment on the session."
                ),
                contexts=["xnat:imageSessionData"],
                external_inputs=[
                    ExternalInput(
                        name="session",
                        label="Session",
                        description="The session with AI findings and reference lesions.",
                        type="Session",
                        required=True,
                        provides_files_for_command_mount="session",
                    )
                ],
                derived_inputs=[
                    property_of("session-id", "Session ID", "session", "id", "SESSION_ID"),
                    property_of("project-id", "Project", "session", "project-id", "PROJECT_ID"),
                ],
                output_handlers=metrics_handlers(),
            )
        ],
    )
    return with_hardware(command, variant, EVALUATE_RESOURCES)


def detection_project_command(variant: Variant) -> Command:
    command = Command(
        name=f"xnat-monai-detect-evaluate-project{variant.suffix}",
        label=f"MONAI detection: evaluate project{variant.menu_suffix}",
        description=(
            "Pools every session's newest detection evaluation of a project: FROC curve, "
            "LUNA16 competition performance metric, average precision, per-site rows with "
            "bootstrap confidence intervals, in the project resource MONAI_EVALUATION/<run>/."
        ),
        schema_version="1.0",
        info_url=INFO_URL,
        image=image_name("evaluate", variant),
        type="docker",
        command_line=PROJECT_COMMAND_LINE,
        override_entrypoint=True,
        mounts=[output_mount()],
        inputs=[
            xnat_value_input("PROJECT_ID", "Project", "The project to report on.", "--project"),
            value_input(
                "models",
                "Models",
                "Comma-separated model names to report on (one or two); empty: all.",
                flag="--models",
            ),
            report_run_input(),
            value_input(
                "resamples",
                "Bootstrap resamples",
                "Resamples of the bootstrap confidence intervals.",
                type="number",
                default="1000",
                required=True,
                flag="--resamples",
            ),
        ],
        outputs=[project_report_output("HTML, PDF, summary.json, sessions.csv")],
        xnat=[
            project_report_wrapper(
                f"monai-detect-evaluate-project{variant.suffix}",
                f"MONAI: project detection report{variant.menu_suffix}",
                "Pool every detection evaluation of this project into one FROC report in "
                "the project resource MONAI_EVALUATION.",
            )
        ],
    )
    return with_hardware(command, variant, EVALUATE_RESOURCES)
