"""`xnat-monai-classify-infer`: classify one session's CT scan with a classifier from
MONAI_MODELS and explain the decision.

It ships in the infer image (the same libraries and hardware as segmentation inference) and
runs `python -m containers.classify infer`. The wrapper `monai-classify-session` mounts the
scan the project's scan rule picks (the derived input `scan`, which `xnat-monai install
--scan-rule` sets as it does for segmentation) and the project's MONAI_MODELS, as the
segmentation wrapper does; the result is an `xnat:qcAssessmentData` on the session with the
report and the Grad-CAM secondary capture as its resources.
"""

from __future__ import annotations

from xnat_plugin.assessors.qc_assessment import QC_ASSESSMENT_XSI_TYPE
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

CLASSIFY_SESSION_WRAPPER = "monai-classify-session"
# The model is looked up by name inside the mounted MONAI_MODELS only (the step checks the name).
CLASSIFY_INFER_COMMAND_LINE = (
    "python -m containers.classify infer --input /input --model /models "
    "--model-name '#model-name#' --output /output "
    "#SESSION_ID# #PROJECT_ID# #SUBJECT_ID# #SESSION_LABEL# #SCAN_ID# #device# "
    "--explain-layer '#explain-layer#'"
)


def classify_infer_command(variant: Variant) -> Command:
    command = Command(
        name=f"xnat-monai-classify-infer{variant.suffix}",
        label=f"MONAI classify{variant.menu_suffix}",
        description=(
            "Classifies one CT scan of a session with a MONAI classifier from the project "
            "resource MONAI_MODELS; stores the class probabilities as an xnat:qcAssessmentData "
            "assessor (statistics prob_<class>, field predicted_class) with a report and a "
            "Grad-CAM explanation (PNG and DICOM secondary capture)."
        ),
        schema_version="1.0",
        info_url=INFO_URL,
        image=image_name("infer", variant),
        type="docker",
        command_line=CLASSIFY_INFER_COMMAND_LINE,
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
                "Name of the classifier's folder in the project resource MONAI_MODELS.",
                default="classifier",
                required=True,
            ),
            *session_inputs(),
            CommandInput(
                name="SCAN_ID",
                label="Scan ID",
                description="ID of the classified scan.",
                required=True,
                command_line_flag="--scan-id",
            ),
            device_input(variant),
            value_input(
                "explain-layer",
                "Explanation layer",
                "The convolution the Grad-CAM explanation reads, as the network names its "
                "modules (e.g. layer2.1.conv2 for ResNet18: finer than the default); empty: "
                "the network's last convolution.",
                default="",
            ),
        ],
        outputs=[
            CommandOutput(
                name="assessor",
                description="The xnat:qcAssessmentData assessor XML (class probabilities).",
                required=True,
                mount="output",
                path="assessor.xml",
            ),
            CommandOutput(
                name="report",
                description="classification.json (probabilities, provenance) and the picture.",
                required=True,
                mount="output",
                path="REPORT",
            ),
            CommandOutput(
                name="explanation",
                description="The Grad-CAM map as a DICOM secondary capture series.",
                required=True,
                mount="output",
                path="EXPLANATION",
            ),
        ],
        xnat=[
            CommandWrapper(
                name=f"{CLASSIFY_SESSION_WRAPPER}{variant.suffix}",
                label=f"MONAI: classify this session{variant.menu_suffix}",
                description=(
                    "Classify this session's CT scan with a classifier from MONAI_MODELS; the "
                    "probabilities appear as a QC assessment on the session, with a Grad-CAM "
                    "explanation."
                ),
                contexts=["xnat:imageSessionData"],
                external_inputs=[
                    ExternalInput(
                        name="session",
                        label="Session",
                        description="The imaging session to classify.",
                        type="Session",
                        required=True,
                    )
                ],
                derived_inputs=[
                    *scan_and_session_values("CT scan to classify"),
                ],
                output_handlers=[
                    OutputHandler(
                        name="classification-assessor",
                        accepts_command_output="assessor",
                        as_a_child_of="session",
                        type="Assessor",
                        xsi_type=QC_ASSESSMENT_XSI_TYPE,
                        description="The QC assessment holding the class probabilities.",
                    ),
                    OutputHandler(
                        name="report-resource",
                        accepts_command_output="report",
                        as_a_child_of="classification-assessor",
                        type="Resource",
                        label="REPORT",
                    ),
                    OutputHandler(
                        name="explanation-resource",
                        accepts_command_output="explanation",
                        as_a_child_of="classification-assessor",
                        type="Resource",
                        label="EXPLANATION",
                    ),
                ],
            )
        ],
    )
    return with_hardware(command, variant, INFER_RESOURCES)
