"""`xnat-monai-infer`: segment one session's CT/MR scan with a model from MONAI_MODELS.

Two wrappers share the command: `monai-segment-session` mounts one scan's DICOM (the usual
case), `monai-segment-session-scans` mounts the whole session so the step picks one scan per
input channel of a multi-channel model (BraTS: T1c, T1, T2, FLAIR) by series description.
Each wrapper leaves the other's mount unfed: XNAT gives it an empty folder.
"""

from __future__ import annotations

from xnat_plugin.assessors.roi_collection import ICR_NAMESPACE
from xnat_plugin.commands.catalogue.parts import (
    GIB,
    INFO_URL,
    Resources,
    Variant,
    device_input,
    image_name,
    output_mount,
    property_of,
    read_only_mount,
    session_inputs,
    value_input,
    with_hardware,
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
from xnat_plugin.commands.scan_rule import ScanRule

INFER_RESOURCES = Resources(reserve_memory_mib=4096, limit_memory_mib=16384, shm_size_bytes=4 * GIB)
# The default scan rule: a CT or MR scan with DICOM files and at least 10 frames (no
# localizer). Sessions with several such series need the project's own rule (`xnat-monai
# install --scan-rule`), or Container Service refuses to choose.
SCAN_MATCHER = ScanRule().matcher()

# The model is looked up by name inside the mounted MONAI_MODELS only (the step checks the name
# with XNAT's label rule), never by a path a launch input could point elsewhere.
INFER_COMMAND_LINE = (
    "python -m containers.infer --input /input --model /models --model-name '#model-name#' "
    "--output /output --session-dir /session --channel-scans '#channel-scans#' "
    "--overrides '#bundle-overrides#' "
    "#SESSION_ID# #PROJECT_ID# #SUBJECT_ID# #SESSION_LABEL# #SCAN_ID# "
    "#tta# #largest-component# #device# #sw-batch-size# #roi-namespace#"
)
SINGLE_SCAN_WRAPPER = "monai-segment-session"
CHANNEL_SCANS_WRAPPER = "monai-segment-session-scans"


def infer_command(variant: Variant) -> Command:
    command = Command(
        name=f"xnat-monai-infer{variant.suffix}",
        label=f"MONAI segment{variant.menu_suffix}",
        description=(
            "Segments one CT or MR scan of a session with a MONAI bundle from the project "
            "resource MONAI_MODELS and stores the result as an icr:roiCollectionData assessor "
            "(DICOM SEG, shown by the OHIF viewer) with NIfTI and a report."
        ),
        schema_version="1.0",
        info_url=INFO_URL,
        image=image_name("infer", variant),
        type="docker",
        command_line=INFER_COMMAND_LINE,
        override_entrypoint=True,
        mounts=[
            read_only_mount("input", "/input"),
            read_only_mount("session", "/session"),
            read_only_mount("models", "/models"),
            output_mount(),
        ],
        inputs=[
            value_input(
                "model-name",
                "Model",
                "Name of the model folder in the project resource MONAI_MODELS.",
                default="segmentation",
                required=True,
            ),
            *session_inputs(),
            CommandInput(
                name="SCAN_ID",
                label="Scan ID",
                description="ID of the segmented scan (none when one scan per channel is chosen).",
                command_line_flag="--scan-id",
            ),
            value_input(
                "channel-scans",
                "Scan of each input channel",
                "For models with several input channels: CHANNEL=PATTERN,... (shell-style, "
                "case-insensitive, over the series description), e.g. "
                "T1c=*t1*post*,T1=*t1*pre*,T2=*t2*,FLAIR=*flair*; empty: each channel's name "
                "as a word of the description.",
                default="",
            ),
            value_input(
                "bundle-overrides",
                "Bundle config overrides",
                "For MONAI model-zoo bundles: ID=VALUE items separated by spaces, in MONAI's "
                "override syntax with :: between levels, e.g. inferer::roi_size=[96,96,96] "
                "inferer::sw_batch_size=2.",
                default="",
            ),
            CommandInput(
                name="tta",
                label="Test-time augmentation",
                description="Average predictions over flipped copies (slower, often smoother).",
                type="boolean",
                default_value="false",
                true_value="--tta",
                false_value="",
            ),
            CommandInput(
                name="largest-component",
                label="Keep largest component",
                description=(
                    "Keep the largest connected regions of each label: as many as the label "
                    "has pieces in the training references (2 for paired kidneys)."
                ),
                type="boolean",
                default_value="true",
                true_value="",
                false_value="--no-largest-component",
            ),
            device_input(variant),
            value_input(
                "sw-batch-size",
                "Sliding-window batch size",
                "Windows evaluated at once; lower it when the GPU runs out of memory.",
                type="number",
                default="4",
                required=True,
                flag="--sw-batch-size",
            ),
            value_input(
                "roi-namespace",
                "ROI schema namespace",
                "Namespace of icr:roiCollectionData on this XNAT (older ROI plugins use "
                "http://www.icr.ac.uk/icr).",
                default=ICR_NAMESPACE,
                required=True,
                flag="--roi-namespace",
            ),
        ],
        outputs=[
            CommandOutput(
                name="assessor",
                description="The icr:roiCollectionData assessor XML.",
                required=True,
                mount="output",
                path="assessor.xml",
            ),
            CommandOutput(
                name="seg",
                description="The DICOM SEG file.",
                required=True,
                mount="output",
                path="SEG",
            ),
            CommandOutput(
                name="nifti",
                description="Label map and image as NIfTI.",
                required=True,
                mount="output",
                path="NIFTI",
            ),
            CommandOutput(
                name="report",
                description="JSON report (volumes, timings, provenance) and a QC picture.",
                required=True,
                mount="output",
                path="REPORT",
            ),
        ],
        xnat=[_single_scan_wrapper(variant), _channel_scans_wrapper(variant)],
    )
    return with_hardware(command, variant, INFER_RESOURCES)


def scan_and_session_values(scan: str) -> list[DerivedInput]:
    """The scan the project's scan rule picks (its DICOM mounted at /input, its ID) and the
    session's values (`session_values`); `scan` says what it is for ("CT scan to classify")."""
    return [
        DerivedInput(
            name="scan",
            label="Scan",
            description=(
                f"The {scan}: the one scan with DICOM files that the project's scan rule picks "
                "(default: at least 10 frames)."
            ),
            type="Scan",
            derived_from_wrapper_input="session",
            matcher=SCAN_MATCHER,
            user_settable=True,
        ),
        DerivedInput(
            name="scan-dicom",
            label="Scan DICOM",
            description="The scan's DICOM resource, mounted at /input.",
            type="Resource",
            derived_from_wrapper_input="scan",
            matcher="@.label == 'DICOM'",
            provides_files_for_command_mount="input",
            user_settable=False,
        ),
        property_of("scan-id", "Scan ID", "scan", "id", "SCAN_ID"),
        *session_values(),
    ]


def session_values() -> list[DerivedInput]:
    """The session's IDs and label, its project and the project's MONAI_MODELS."""
    return [
        property_of("session-id", "Session ID", "session", "id", "SESSION_ID"),
        property_of("session-label", "Session label", "session", "label", "SESSION_LABEL"),
        property_of("project-id", "Project", "session", "project-id", "PROJECT_ID"),
        property_of("subject-id", "Subject ID", "session", "subject-id", "SUBJECT_ID"),
        DerivedInput(
            name="project",
            label="Project",
            description="The session's project, which holds the models.",
            type="Project",
            derived_from_wrapper_input="session",
            user_settable=False,
            # load-children stays true: XNAT loads a derived project's resources
            # only with it (and only the types this wrapper needs).
        ),
        DerivedInput(
            name="models",
            label="Models",
            description="The project resource MONAI_MODELS, mounted at /models.",
            type="Resource",
            derived_from_wrapper_input="project",
            matcher="@.label == 'MONAI_MODELS'",
            provides_files_for_command_mount="models",
            user_settable=False,
        ),
    ]


def _output_handlers() -> list[OutputHandler]:
    return [
        OutputHandler(
            name="segmentation-assessor",
            accepts_command_output="assessor",
            as_a_child_of="session",
            type="Assessor",
            xsi_type="icr:roiCollectionData",
            description="The ROI collection assessor of the AI segmentation.",
        ),
        OutputHandler(
            name="seg-resource",
            accepts_command_output="seg",
            as_a_child_of="segmentation-assessor",
            type="Resource",
            label="SEG",
        ),
        OutputHandler(
            name="nifti-resource",
            accepts_command_output="nifti",
            as_a_child_of="segmentation-assessor",
            type="Resource",
            label="NIFTI",
        ),
        OutputHandler(
            name="report-resource",
            accepts_command_output="report",
            as_a_child_of="segmentation-assessor",
            type="Resource",
            label="REPORT",
        ),
    ]


def _single_scan_wrapper(variant: Variant) -> CommandWrapper:
    return CommandWrapper(
        name=f"{SINGLE_SCAN_WRAPPER}{variant.suffix}",
        label=f"MONAI: segment this session{variant.menu_suffix}",
        description=(
            "Segment a CT or MR scan of this session with a model from MONAI_MODELS; "
            "the segmentation appears as an ROI collection (DICOM SEG) on the session."
        ),
        contexts=["xnat:imageSessionData"],
        external_inputs=[
            ExternalInput(
                name="session",
                label="Session",
                description="The imaging session to segment.",
                type="Session",
                required=True,
            )
        ],
        derived_inputs=[
            *scan_and_session_values("CT or MR scan to segment"),
        ],
        output_handlers=_output_handlers(),
    )


def _channel_scans_wrapper(variant: Variant) -> CommandWrapper:
    return CommandWrapper(
        name=f"{CHANNEL_SCANS_WRAPPER}{variant.suffix}",
        label=f"MONAI: segment this session from several scans{variant.menu_suffix}",
        description=(
            "Segment this session with a model that takes several scans, one per input "
            "channel (e.g. T1c, T1, T2, FLAIR), chosen by series description (input "
            "channel-scans); the segmentation appears on the first channel's scan."
        ),
        contexts=["xnat:imageSessionData"],
        external_inputs=[
            ExternalInput(
                name="session",
                label="Session",
                description="The imaging session to segment, mounted whole at /session.",
                type="Session",
                required=True,
                provides_files_for_command_mount="session",
            )
        ],
        derived_inputs=session_values(),
        output_handlers=_output_handlers(),
    )
