"""`xnat-monai-detect`: find lesions (lung nodules) on one session's CT scan with a MONAI
detection bundle from MONAI_MODELS (`python -m containers.detection infer-session`).

In the infer image (torch, MONAI, highdicom; the GPU when there is one), with the segmentation
infer command's scan choice and session values: the scan the project's scan rule picks is
mounted at /input, MONAI_MODELS at /models. The findings become an `icr:roiCollectionData`
assessor (its RTSTRUCT is what XNAT's OHIF viewer overlays) with the resources RTSTRUCT, SR
(DICOM SR TID 1500), FINDINGS (the findings JSON the detection evaluation reads) and REPORT.
A detection bundle runs code (its scripts/): the site trusts it by its code checksum in the
command's XNAT_MONAI_TRUSTED_BUNDLES or the image (see the admin guide).
"""

from __future__ import annotations

from xnat_plugin.commands.catalogue.infer import INFER_RESOURCES, scan_and_session_values
from xnat_plugin.commands.catalogue.parts import (
    INFO_URL,
    Variant,
    device_input,
    image_name,
    output_mount,
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
    ExternalInput,
    OutputHandler,
)

# The model is looked up by name inside the mounted MONAI_MODELS only (the step checks the
# name with XNAT's label rule). Overrides use MONAI's `::` separator: no `#` in a value.
DETECT_COMMAND_LINE = (
    "python -m containers.detection infer-session --input /input --model /models "
    "--model-name '#model-name#' --output /output --overrides '#bundle-overrides#' "
    "#SESSION_ID# #PROJECT_ID# #SUBJECT_ID# #SESSION_LABEL# #SCAN_ID# #threshold# #device#"
)
DETECT_WRAPPER = "monai-detect-session"
# The model zoo's lung_nodule_ct_detection resamples the scan itself only with this.
ZOO_DETECTION_OVERRIDES = "preprocessing::transforms::4::_disabled_=false"
# (command output, resource label, what it holds)
DETECT_RESOURCES = (
    ("rtstruct", "RTSTRUCT", "One ROI per reported finding (RT Structure Set)."),
    ("sr", "SR", "The reported findings as a DICOM SR TID 1500 measurement report."),
    ("findings", "FINDINGS", "Every finding after NMS with its score (findings.json)."),
    ("report", "REPORT", "report.json (counts, sizes, timings, provenance) and detection.png."),
)


def detection_infer_command(variant: Variant) -> Command:
    command = Command(
        name=f"xnat-monai-detect{variant.suffix}",
        label=f"MONAI detect{variant.menu_suffix}",
        description=(
            "Finds lesions (e.g. lung nodules) on one CT scan of a session with a MONAI "
            "detection bundle from the project resource MONAI_MODELS; the scored boxes are "
            "stored as an icr:roiCollectionData assessor (RTSTRUCT, shown by the OHIF viewer) "
            "with a DICOM SR measurement report, the findings JSON and a picture."
        ),
        schema_version="1.0",
        info_url=INFO_URL,
        image=image_name("infer", variant),
        type="docker",
        command_line=DETECT_COMMAND_LINE,
        override_entrypoint=True,
        mounts=[
            read_only_mount("input", "/input"),
            read_only_mount("models", "/models"),
            output_mount(),
        ],
        inputs=[
            value_input(
                "model-name",
                "Model",
                "Name of the detection bundle's folder in the project resource MONAI_MODELS.",
                default="lung_nodule_ct_detection",
                required=True,
            ),
            *session_inputs(),
            CommandInput(
                name="SCAN_ID",
                label="Scan ID",
                description="ID of the scan searched.",
                command_line_flag="--scan-id",
            ),
            value_input(
                "bundle-overrides",
                "Bundle config overrides",
                "ID=VALUE items separated by spaces, in MONAI's override syntax with :: "
                "between levels. The default lets the model zoo's lung_nodule_ct_detection "
                "resample the scan itself; e.g. add infer_patch_size=[192,192,80] on a small GPU.",
                default=ZOO_DETECTION_OVERRIDES,
            ),
            value_input(
                "threshold",
                "Operating score",
                "Findings scoring at least this are reported (RTSTRUCT, SR, picture, the "
                "assessor's counts); the findings JSON keeps every score.",
                type="number",
                default="0.5",
                required=True,
                flag="--threshold",
            ),
            device_input(variant),
        ],
        outputs=[
            CommandOutput(
                name="assessor",
                description="The icr:roiCollectionData assessor XML.",
                required=True,
                mount="output",
                path="assessor.xml",
            ),
            *(
                CommandOutput(
                    name=name, description=text, required=True, mount="output", path=label
                )
                for name, label, text in DETECT_RESOURCES
            ),
        ],
        xnat=[_detect_wrapper(variant)],
    )
    return with_hardware(command, variant, INFER_RESOURCES)


def _detect_wrapper(variant: Variant) -> CommandWrapper:
    return CommandWrapper(
        name=f"{DETECT_WRAPPER}{variant.suffix}",
        label=f"MONAI: find lesions in this session{variant.menu_suffix}",
        description=(
            "Find lesions (e.g. lung nodules) on a CT scan of this session with a detection "
            "model from MONAI_MODELS; the boxes appear as an ROI collection on the session."
        ),
        contexts=["xnat:imageSessionData"],
        external_inputs=[
            ExternalInput(
                name="session",
                label="Session",
                description="The imaging session to search.",
                type="Session",
                required=True,
            )
        ],
        derived_inputs=[
            *scan_and_session_values("CT scan to search"),
        ],
        output_handlers=[
            OutputHandler(
                name="detection-assessor",
                accepts_command_output="assessor",
                as_a_child_of="session",
                type="Assessor",
                xsi_type="icr:roiCollectionData",
                description="The ROI collection assessor of the AI findings.",
            ),
            *(
                OutputHandler(
                    name=f"{name}-resource",
                    accepts_command_output=name,
                    as_a_child_of="detection-assessor",
                    type="Resource",
                    label=label,
                )
                for name, label, _text in DETECT_RESOURCES
            ),
        ],
    )
