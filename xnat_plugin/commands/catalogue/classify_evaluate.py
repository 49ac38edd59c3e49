"""`xnat-monai-classify-evaluate-project`: a classifier's figures over a project, in the
evaluate image (CPU only, as the other evaluations): `python -m containers.classify
evaluate-project`, its report a run folder in the project resource MONAI_EVALUATION."""

from __future__ import annotations

from xnat_plugin.commands.catalogue.classify import class_label_inputs
from xnat_plugin.commands.catalogue.evaluate import (
    EVALUATE_RESOURCES,
    project_report_output,
    project_report_wrapper,
    report_run_input,
)
from xnat_plugin.commands.catalogue.parts import (
    INFO_URL,
    Variant,
    image_name,
    output_mount,
    value_input,
    with_hardware,
    xnat_value_input,
)
from xnat_plugin.commands.model import (
    Command,
)

COMMAND_LINE = (
    "python -m containers.classify evaluate-project #PROJECT_ID# --output /output "
    "#label-field# #label-csv# #models# #positive# #threshold# #run# #resamples#"
)


def classify_evaluate_project_command(variant: Variant) -> Command:
    command = Command(
        name=f"xnat-monai-classify-evaluate-project{variant.suffix}",
        label=f"MONAI classification: evaluate project{variant.menu_suffix}",
        description=(
            "Compares every session's newest classification with its true class: ROC AUC with "
            "DeLong and bootstrap 95 % intervals, sensitivity and specificity at the threshold "
            "and at Youden's point, the confusion matrix, calibration (ECE, Brier score), per "
            "site, and DeLong's tests between sites and between two models; a report in the "
            "project resource MONAI_EVALUATION/<run>/."
        ),
        schema_version="1.0",
        info_url=INFO_URL,
        image=image_name("evaluate", variant),
        type="docker",
        command_line=COMMAND_LINE,
        override_entrypoint=True,
        mounts=[output_mount()],
        inputs=[
            xnat_value_input("PROJECT_ID", "Project", "The project to report on.", "--project"),
            *class_label_inputs(),
            value_input(
                "models",
                "Models",
                "Comma-separated model names to report on (two give DeLong's paired test); "
                "empty: all.",
                flag="--models",
            ),
            value_input(
                "positive",
                "Positive class",
                "The class the figures are about; empty: of two classes, the one that does not "
                "read as 'nothing found' (no_lesion, normal, absent, ...).",
                flag="--positive",
            ),
            value_input(
                "threshold",
                "Threshold",
                "A session is called positive when its probability is at least this.",
                type="number",
                default="0.5",
                required=True,
                flag="--threshold",
            ),
            report_run_input(),
            value_input(
                "resamples",
                "Bootstrap resamples",
                "Resamples of the AUC's bootstrap interval.",
                type="number",
                default="1000",
                required=True,
                flag="--resamples",
            ),
        ],
        outputs=[project_report_output("HTML, PDF, summary.json, sessions.csv")],
        xnat=[
            project_report_wrapper(
                f"monai-classify-evaluate-project{variant.suffix}",
                f"MONAI: project classification report{variant.menu_suffix}",
                "Measure how well the classifier's predictions on this project's sessions "
                "agree with their true classes; a report in MONAI_EVALUATION.",
            )
        ],
    )
    return with_hardware(command, variant, EVALUATE_RESOURCES)
