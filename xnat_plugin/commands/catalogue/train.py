"""`xnat-monai-train`: train a MONAI segmentation bundle on a project's reference segmentations."""

from __future__ import annotations

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
    OutputHandler,
)
from xnat_plugin.commands.scan_rule import ScanRule

# The names the train step's registries know (containers.common.networks and .losses; a test
# holds these lists to them).
NETWORKS = ["UNet", "SegResNet", "SwinUNETR", "DynUNet"]
LOSSES = ["DiceCE", "DiceFocal", "Dice", "GeneralizedDice"]
TRAIN_RESOURCES = Resources(reserve_memory_mib=8192, limit_memory_mib=32768, shm_size_bytes=8 * GIB)

# Quoted where a value is free text or a regex: the command line runs under /bin/sh -c.
TRAIN_COMMAND_LINE = (
    "python -m containers.train #PROJECT_ID# --model-name '#model-name#' --output /output "
    "#network# #loss# #labels# #epochs# #folds# #patch-size# #learning-rate# "
    "--reference-pattern '#reference-pattern#' #seed# --project-dir /project #device# "
    "#time-budget# #init-from# "
    "--scan-description '#scan-description#' --scan-type '#scan-type#' #min-frames# #max-frames#"
)


def train_command(variant: Variant) -> Command:
    command = Command(
        name=f"xnat-monai-train{variant.suffix}",
        label=f"MONAI train{variant.menu_suffix}",
        description=(
            "Trains a MONAI segmentation network on every session of a project that has an "
            "image scan and a reference segmentation, splits by subject into folds, and stores "
            "the model as a MONAI bundle in the project resource MONAI_MODELS/<model-name>/ "
            "with a training report."
        ),
        schema_version="1.0",
        info_url=INFO_URL,
        image=image_name("train", variant),
        type="docker",
        command_line=TRAIN_COMMAND_LINE,
        override_entrypoint=True,
        mounts=[read_only_mount("project", "/project"), output_mount()],
        inputs=[
            xnat_value_input("PROJECT_ID", "Project ID", "The project to train on.", "--project"),
            value_input(
                "model-name",
                "Model name",
                "Name of the trained model: its folder in MONAI_MODELS (letters, digits, - _).",
                default="segmentation",
                required=True,
            ),
            value_input(
                "network",
                "Network",
                "MONAI network architecture.",
                type="select-one",
                default="UNet",
                required=True,
                flag="--network",
                select=NETWORKS,
            ),
            value_input(
                "loss",
                "Loss",
                "Training loss: DiceCE (Dice plus cross-entropy), DiceFocal (Dice plus focal, "
                "for small structures), Dice, or GeneralizedDice (for unbalanced labels).",
                type="select-one",
                default="DiceCE",
                required=True,
                flag="--loss",
                select=LOSSES,
            ),
            value_input(
                "labels",
                "Labels",
                "Comma-separated label names to learn, e.g. liver,spleen,kidney; empty: every "
                "label of the reference segmentations.",
                flag="--labels",
            ),
            value_input(
                "epochs",
                "Epochs",
                "Training epochs.",
                type="number",
                default="100",
                required=True,
                flag="--epochs",
            ),
            value_input(
                "folds",
                "Folds",
                "Cross-validation folds, split by subject.",
                type="number",
                default="5",
                required=True,
                flag="--folds",
            ),
            value_input(
                "patch-size",
                "Patch size",
                "Training patch size in voxels, as x,y,z.",
                default="96,96,96",
                required=True,
                flag="--patch-size",
            ),
            value_input(
                "learning-rate",
                "Learning rate",
                "Initial learning rate.",
                type="number",
                default="0.002",
                required=True,
                flag="--learning-rate",
            ),
            value_input(
                "reference-pattern",
                "Reference pattern",
                "Regular expression on assessor labels that picks the reference (manual) "
                "segmentations. XNAT refuses values containing ( ; && || or a backtick.",
                default=".*manual.*",
                required=True,
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
                "than asked fit, the learning-rate schedule is fitted to those that do (measured "
                "after each epoch), so the model still finishes its schedule.",
                type="number",
                flag="--max-minutes",
            ),
            value_input(
                "init-from",
                "Start from model",
                "Fine-tune: the name of a model in this project's MONAI_MODELS (ours or a MONAI "
                "model-zoo bundle added with 'xnat-monai models add') to start from; the new "
                "model keeps its network, channels and preprocessing, and the project's labels "
                "map onto its channels by name. Empty: train from random weights.",
                flag="--init-from",
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
                name=f"monai-train-project{variant.suffix}",
                label=f"MONAI: train a segmentation model{variant.menu_suffix}",
                description=(
                    "Train a MONAI model on this project's scans and reference segmentations; "
                    "the model lands in the project resource MONAI_MODELS."
                ),
                contexts=["xnat:projectData"],
                external_inputs=[
                    ExternalInput(
                        name="project",
                        label="Project",
                        description="The project whose sessions are the training data.",
                        type="Project",
                        required=True,
                        # Serialising every subject and session of a project is slow, and the
                        # archive is mounted anyway.
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


def scan_rule_inputs() -> list[CommandInput]:
    """The scan rule as train inputs: set them as infer's `scan` matcher is set (`xnat-monai
    install --scan-rule`), so train learns from the series infer segments."""
    default = ScanRule()
    return [
        value_input(
            "scan-description",
            "Scan: series description",
            "Regular expression the series description of the scan to train on matches "
            "(whole text, any case); empty: any. As the segment command's scan rule.",
            default=default.description,
        ),
        value_input(
            "scan-type",
            "Scan: scan type",
            "Regular expression the scan type matches (whole text, any case); empty: any.",
            default=default.scan_type,
        ),
        value_input(
            "min-frames",
            "Scan: fewest frames",
            "Scans with fewer frames are passed over (localizers have one to three).",
            type="number",
            default=str(default.min_frames),
            required=True,
            flag="--min-frames",
        ),
        value_input(
            "max-frames",
            "Scan: most frames",
            "Scans with more frames are passed over; 0: no limit.",
            type="number",
            default=str(default.max_frames),
            required=True,
            flag="--max-frames",
        ),
    ]
