"""`xnat-monai-classify-train`: train a MONAI session classifier on a project's labelled sessions.

It ships in the train image (the same libraries and GPU needs as segmentation training) and
runs `python -m containers.classify train`.
"""

from __future__ import annotations

from xnat_plugin.commands.catalogue.parts import (
    INFO_URL,
    Variant,
    device_input,
    image_name,
    output_mount,
    property_of,
    read_only_mount,
    value_input,
    with_hardware,
    xnat_value_input,
)
from xnat_plugin.commands.catalogue.train import TRAIN_RESOURCES, scan_rule_inputs
from xnat_plugin.commands.model import (
    Command,
    CommandInput,
    CommandOutput,
    CommandWrapper,
    ExternalInput,
    OutputHandler,
)

# The names of the classify step's network registry (containers.classify.networks; a test
# holds this list to it).
CLASSIFIERS = ["DenseNet121", "ResNet18", "EfficientNetB0"]

# Quoted where a value is free text or a regex: the command line runs under /bin/sh -c.
CLASSIFY_TRAIN_COMMAND_LINE = (
    "python -m containers.classify train #PROJECT_ID# --model-name '#model-name#' "
    "--output /output #label-field# #label-csv# #network# #epochs# #folds# #roi-size# "
    "#spacing# #learning-rate# #seed# --project-dir /project #device# #time-budget# "
    "--scan-description '#scan-description#' --scan-type '#scan-type#' #min-frames# #max-frames#"
)


def class_label_inputs() -> list[CommandInput]:
    """Where the sessions' true classes are (`containers.common.class_labels`): a session
    field, else a CSV in a project resource; training and the project evaluation read both."""
    return [
        value_input(
            "label-field",
            "Class: session field",
            "The session field that holds each session's class (e.g. diagnosis). Clear "
            "it to read the classes from a CSV instead.",
            default="diagnosis",
            flag="--label-field",
        ),
        value_input(
            "label-csv",
            "Class: project CSV",
            "RESOURCE/FILE.csv: a CSV in a project resource with columns session_label,class "
            "(used when the session field is empty).",
            flag="--label-csv",
        ),
    ]


def classify_train_command(variant: Variant) -> Command:
    command = Command(
        name=f"xnat-monai-classify-train{variant.suffix}",
        label=f"MONAI classify: train{variant.menu_suffix}",
        description=(
            "Trains a MONAI classification network (one class per session, from a session "
            "field or a project CSV resource) on a project's CT sessions, splits by subject "
            "into folds, and stores the model as a MONAI bundle in the project resource "
            "MONAI_MODELS/<model-name>/."
        ),
        schema_version="1.0",
        info_url=INFO_URL,
        image=image_name("train", variant),
        type="docker",
        command_line=CLASSIFY_TRAIN_COMMAND_LINE,
        override_entrypoint=True,
        mounts=[read_only_mount("project", "/project"), output_mount()],
        inputs=[
            xnat_value_input("PROJECT_ID", "Project ID", "The project to train on.", "--project"),
            value_input(
                "model-name",
                "Model name",
                "Name of the trained model: its folder in MONAI_MODELS (letters, digits, - _).",
                default="classifier",
                required=True,
            ),
            *class_label_inputs(),
            value_input(
                "network",
                "Network",
                "MONAI classification network.",
                type="select-one",
                default="DenseNet121",
                required=True,
                flag="--network",
                select=CLASSIFIERS,
            ),
            value_input(
                "epochs",
                "Epochs",
                "Training epochs.",
                type="number",
                default="50",
                required=True,
                flag="--epochs",
            ),
            value_input(
                "folds",
                "Folds",
                "Cross-validation folds, split by subject; every fold holds out every class.",
                type="number",
                default="5",
                required=True,
                flag="--folds",
            ),
            value_input(
                "roi-size",
                "Input size",
                "Network input in voxels, as x,y,z: each scan, resampled and cropped to the "
                "body, is padded or cropped about the body's centre to this size (at least 32 "
                "per axis).",
                default="96,96,48",
                required=True,
                flag="--roi-size",
            ),
            value_input(
                "spacing",
                "Voxel size (mm)",
                "Input voxel size in mm, as x,y,z; empty: the median of the sessions.",
                flag="--spacing",
            ),
            value_input(
                "learning-rate",
                "Learning rate",
                "Initial learning rate.",
                type="number",
                default="0.0001",
                required=True,
                flag="--learning-rate",
            ),
            value_input(
                "seed",
                "Seed",
                "Random seed (folds, sampling, weights).",
                type="number",
                default="0",
                required=True,
                flag="--seed",
            ),
            device_input(variant),
            value_input(
                "time-budget",
                "Time budget (minutes)",
                "Longest the training may run, in minutes; empty: no limit. When fewer epochs "
                "than asked fit, the learning-rate schedule is fitted to those that do.",
                type="number",
                flag="--max-minutes",
            ),
            *scan_rule_inputs(),
        ],
        outputs=[
            CommandOutput(
                name="model",
                description="The MONAI bundle folder <model-name>/ with its training report.",
                required=True,
                mount="output",
            )
        ],
        xnat=[
            CommandWrapper(
                name=f"monai-classify-train-project{variant.suffix}",
                label=f"MONAI: train a classifier{variant.menu_suffix}",
                description=(
                    "Train a MONAI classifier on this project's sessions and their classes; "
                    "the model lands in the project resource MONAI_MODELS."
                ),
                contexts=["xnat:projectData"],
                external_inputs=[
                    ExternalInput(
                        name="project",
                        label="Project",
                        description="The project whose labelled sessions are the training data.",
                        type="Project",
                        required=True,
                        load_children=False,
                        provides_files_for_command_mount="project",
                    )
                ],
                derived_inputs=[
                    property_of("project-id", "Project ID", "project", "id", "PROJECT_ID"),
                ],
                output_handlers=[
                    OutputHandler(
                        name="model-resource",
                        accepts_command_output="model",
                        as_a_child_of="project",
                        type="Resource",
                        label="MONAI_MODELS",
                        description="MONAI bundles, one folder per model name.",
                    )
                ],
            )
        ],
    )
    return with_hardware(command, variant, TRAIN_RESOURCES)
