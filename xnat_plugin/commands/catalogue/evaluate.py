"""The evaluate image's two commands: per-session metrics and the project report."""

from __future__ import annotations

from xnat_plugin.commands.catalogue.parts import (
    GIB,
    INFO_URL,
    Resources,
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
    DerivedInput,
    ExternalInput,
    OutputHandler,
)

# The metrics run on the CPU (numpy, scipy): no GPU request, which on Swarm and Kubernetes would
# hold a GPU for the whole evaluation while a train or infer job waits for it.
EVALUATE_RESOURCES = Resources(
    reserve_memory_mib=2048, limit_memory_mib=8192, shm_size_bytes=2 * GIB, gpu=False
)
REGEX_NOTE = "XNAT refuses values containing ( ; && || or a backtick."

SESSION_COMMAND_LINE = (
    "python -m containers.evaluate session #SESSION_ID# #PROJECT_ID# --output /output "
    "--session-dir /session --ai-pattern '#ai-pattern#' "
    "--reference-pattern '#reference-pattern#' #tolerance-mm# #ai-assessor-id# "
    "#seg-wait-seconds#"
)
# XNAT's ImageAssessorEvent fires when an assessor's XML is stored, before its resources are
# uploaded, and launches with the assessor's own URI: the event-launched wrapper is rooted at
# the AI segmentation and the step waits (bounded) for its SEG resource.
ROI_COLLECTION = "icr:roiCollectionData"
SEG_WAIT_SECONDS = "1800"
PROJECT_COMMAND_LINE = (
    "python -m containers.evaluate project #PROJECT_ID# --output /output #models# #run# "
    "#grid-intensity#"
)


def evaluate_session_command(variant: Variant) -> Command:
    command = Command(
        name=f"xnat-monai-evaluate-session{variant.suffix}",
        label=f"MONAI evaluate session{variant.menu_suffix}",
        description=(
            "Compares an AI segmentation assessor of a session with its reference "
            "segmentation (Dice, IoU, HD95, ASSD, surface Dice, volumes per label) and stores "
            "the figures as an xnat:qcAssessmentData assessor with a report."
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
                "AI segmentation pattern",
                "Regular expression on assessor labels that picks the AI segmentation (the "
                "newest match is used). " + REGEX_NOTE,
                default=".*_monai_.*",
                required=True,
            ),
            value_input(
                "reference-pattern",
                "Reference pattern",
                "Regular expression on assessor labels that picks the reference segmentation. "
                + REGEX_NOTE,
                default=".*manual.*",
                required=True,
            ),
            value_input(
                "tolerance-mm",
                "Surface tolerance (mm)",
                "Tolerance of the normalised surface Dice, in millimetres.",
                type="number",
                default="1.0",
                required=True,
                flag="--tolerance-mm",
            ),
            value_input(
                "ai-assessor-id",
                "AI segmentation ID",
                "Evaluate this AI segmentation assessor (its XNAT ID) instead of the newest "
                "one the AI pattern picks, once its SEG resource is uploaded.",
                flag="--ai-assessor-id",
            ),
            value_input(
                "seg-wait-seconds",
                "Wait for the SEG (s)",
                "With an AI segmentation ID: how long to wait for its SEG resource, which XNAT "
                "uploads after the assessor itself.",
                type="number",
                default=SEG_WAIT_SECONDS,
                required=True,
                flag="--seg-wait-seconds",
            ),
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
                description="metrics.json, metrics.csv, the disagreement picture, provenance.",
                required=True,
                mount="output",
                path="REPORT",
            ),
        ],
        xnat=[
            CommandWrapper(
                name=f"monai-evaluate-session{variant.suffix}",
                label=f"MONAI: evaluate the AI segmentation{variant.menu_suffix}",
                description=(
                    "Measure how well this session's AI segmentation agrees with the reference "
                    "segmentation; the figures appear as a QC assessment on the session."
                ),
                contexts=["xnat:imageSessionData"],
                external_inputs=[
                    ExternalInput(
                        name="session",
                        label="Session",
                        description="The session with an AI and a reference segmentation.",
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
            ),
            CommandWrapper(
                name=f"monai-evaluate-ai-segmentation{variant.suffix}",
                label=f"MONAI: evaluate this AI segmentation{variant.menu_suffix}",
                description=(
                    "Measure how well this AI segmentation agrees with its session's reference "
                    "segmentation, once its SEG is uploaded. Rooted at the segmentation "
                    "assessor, so XNAT's event service can launch it on every new AI "
                    "segmentation (ImageAssessorEvent)."
                ),
                contexts=[ROI_COLLECTION],
                external_inputs=[
                    ExternalInput(
                        name="segmentation",
                        label="AI segmentation",
                        description="An AI segmentation assessor (icr:roiCollectionData).",
                        type="Assessor",
                        matcher=f"@.xsiType == '{ROI_COLLECTION}'",
                        required=True,
                    )
                ],
                derived_inputs=[
                    DerivedInput(
                        name="session",
                        label="Session",
                        description="The segmentation's session, filled in by XNAT.",
                        type="Session",
                        derived_from_wrapper_input="segmentation",
                        provides_files_for_command_mount="session",
                        user_settable=False,
                    ),
                    property_of("session-id", "Session ID", "session", "id", "SESSION_ID"),
                    property_of("project-id", "Project", "session", "project-id", "PROJECT_ID"),
                    property_of(
                        "segmentation-id",
                        "AI segmentation ID",
                        "segmentation",
                        "id",
                        "ai-assessor-id",
                    ),  # fmt: skip
                ],
                output_handlers=metrics_handlers(),
            ),
        ],
    )
    return with_hardware(command, variant, EVALUATE_RESOURCES)


def metrics_handlers() -> list[OutputHandler]:
    """The QC assessment on the session, then its REPORT resource."""
    return [
        OutputHandler(
            name="metrics-assessor",
            accepts_command_output="assessor",
            as_a_child_of="session",
            type="Assessor",
            xsi_type="xnat:qcAssessmentData",
            description="The QC assessment with the metrics.",
        ),
        OutputHandler(
            name="report-resource",
            accepts_command_output="report",
            as_a_child_of="metrics-assessor",
            type="Resource",
            label="REPORT",
        ),
    ]


def evaluate_project_command(variant: Variant) -> Command:
    command = Command(
        name=f"xnat-monai-evaluate-project{variant.suffix}",
        label=f"MONAI evaluate project{variant.menu_suffix}",
        description=(
            "Aggregates every session evaluation of a project into one report (per-label "
            "statistics with confidence intervals, per-site rows, box plots, Bland-Altman, "
            "paired tests between two models) in the project resource MONAI_EVALUATION/<run>/."
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
                "Comma-separated model names to compare (two give paired tests); empty: all.",
                flag="--models",
            ),
            report_run_input(),
            value_input(
                "grid-intensity",
                "Grid carbon intensity (g CO2e/kWh)",
                "Carbon intensity of the electricity that ran the jobs, for the report's CO2e; "
                "empty: the world average (475).",
                type="number",
                flag="--grid-intensity",
            ),
        ],
        outputs=[project_report_output("HTML, PDF, CSV, summary.json")],
        xnat=[
            project_report_wrapper(
                f"monai-evaluate-project{variant.suffix}",
                f"MONAI: project evaluation report{variant.menu_suffix}",
                "Summarise every session evaluation of this project into one report in the "
                "project resource MONAI_EVALUATION.",
            )
        ],
    )
    return with_hardware(command, variant, EVALUATE_RESOURCES)


def report_run_input() -> CommandInput:
    """The folder of a project report inside MONAI_EVALUATION (`--run`)."""
    return value_input(
        "run",
        "Run name",
        "Folder name of this report in MONAI_EVALUATION; empty: a timestamp.",
        flag="--run",
    )


def project_report_output(files: str) -> CommandOutput:
    return CommandOutput(
        name="report",
        description=f"The report folder <run>/ ({files}).",
        required=True,
        mount="output",
    )


def project_report_wrapper(name: str, label: str, description: str) -> CommandWrapper:
    """A wrapper launched on a project whose report folder goes to the project resource
    MONAI_EVALUATION (every project report: segmentation, detection, classification)."""
    return CommandWrapper(
        name=name,
        label=label,
        description=description,
        contexts=["xnat:projectData"],
        external_inputs=[
            ExternalInput(
                name="project",
                label="Project",
                description="The project to report on.",
                type="Project",
                required=True,
                load_children=False,
            )
        ],
        derived_inputs=[
            property_of("project-id", "Project ID", "project", "id", "PROJECT_ID"),
        ],
        output_handlers=[
            OutputHandler(
                name="evaluation-resource",
                accepts_command_output="report",
                as_a_child_of="project",
                type="Resource",
                label="MONAI_EVALUATION",
                description="Project evaluation reports, one folder per run.",
            )
        ],
    )
