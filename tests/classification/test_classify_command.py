"""The classify train command in the catalogue (`xnat_plugin/commands/catalogue/classify.py`):
its command line parses with the step's own parser, its network list is the step's registry,
and it stores into MONAI_MODELS from a read-only project mount, as the segmentation trainer."""

from __future__ import annotations

import shlex

import pytest

from containers.classify.__main__ import build_parser
from containers.classify.networks import CLASSIFIER_NAMES
from tests.commands.test_catalogue import SAMPLE_XNAT_VALUES, fill_command_line
from xnat_plugin.commands.catalogue import CPU, GPU, Variant, step_commands


@pytest.mark.parametrize("variant", [GPU, CPU], ids=["gpu", "cpu"])
def test_the_classify_command_line_parses_with_the_steps_parser(variant: Variant) -> None:
    _segmentation, classify = step_commands("train", variant)
    assert classify.name == f"xnat-monai-classify-train{variant.suffix}"
    values = SAMPLE_XNAT_VALUES | {"model-name": "lesions", "time-budget": "30"}
    words = shlex.split(fill_command_line(classify, values))
    assert words[:4] == ["python", "-m", "containers.classify", "train"]
    args = build_parser().parse_args(words[3:])
    assert (args.project, args.model_name, str(args.output)) == ("LIVER", "lesions", "/output")
    assert (args.label_field, args.label_csv) == ("diagnosis", None)
    assert str(args.project_dir) == "/project"
    assert (args.network, args.roi_size, args.spacing) == ("DenseNet121", "96,96,48", "")
    assert args.max_minutes == pytest.approx(30.0)
    assert args.device == variant.default_device
    by_csv = {"label-field": "", "label-csv": "LABELS/classes.csv"}
    args = build_parser().parse_args(
        shlex.split(fill_command_line(classify, SAMPLE_XNAT_VALUES | by_csv))[3:]
    )
    assert (args.label_field, args.label_csv) == (None, "LABELS/classes.csv")


def test_the_classify_command_offers_the_steps_networks_and_stores_into_monai_models() -> None:
    _segmentation, classify = step_commands("train")
    assert classify.input("network").select_values == list(CLASSIFIER_NAMES)
    (wrapper,) = classify.xnat
    assert wrapper.contexts == ["xnat:projectData"]
    (project,) = wrapper.external_inputs
    mount = classify.mount(str(project.provides_files_for_command_mount))
    assert mount.path == "/project" and not mount.writable
    (handler,) = wrapper.output_handlers
    assert (handler.type, handler.label, handler.as_a_child_of) == (
        "Resource",
        "MONAI_MODELS",
        "project",
    )
