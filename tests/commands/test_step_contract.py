"""The command lines our catalogue gives parse with the steps' own argument parsers."""

from __future__ import annotations

import shlex

import pytest

from tests.commands.test_catalogue import SAMPLE_XNAT_VALUES, fill_command_line
from xnat_plugin.commands.catalogue import CPU, GPU, Variant, step_commands


@pytest.mark.parametrize("variant", [GPU, CPU], ids=["gpu", "cpu"])
def test_infer_command_line_parses_with_the_infer_steps_parser(variant: Variant) -> None:
    from containers.infer.__main__ import build_parser

    infer, _classifier, _detector = step_commands("infer", variant)
    values = SAMPLE_XNAT_VALUES | {"model-name": "organs", "tta": "true"}
    words = shlex.split(fill_command_line(infer, values))
    args = build_parser().parse_args(words[3:])
    assert str(args.input) == "/input" and str(args.model) == "/models"
    assert args.model_name == "organs"
    assert (args.session_id, args.project, args.subject) == ("XNAT_E00001", "LIVER", "XNAT_S00001")
    assert (args.session_label, args.scan_id) == ("CT_001", "2")
    assert args.tta is True and args.no_largest_component is False
    assert args.device == variant.default_device
    assert args.sw_batch_size == 4


def test_train_command_line_parses_with_the_train_steps_parser() -> None:
    from containers.train.__main__ import build_parser

    train, _classifier = step_commands("train")
    values = SAMPLE_XNAT_VALUES | {"model-name": "organs", "labels": "liver,spleen"}
    words = shlex.split(fill_command_line(train, values))
    args = build_parser().parse_args(words[3:])
    assert (args.project, args.model_name, str(args.output)) == ("LIVER", "organs", "/output")
    assert str(args.project_dir) == "/project"
    assert (args.network, args.labels, args.patch_size) == ("UNet", "liver,spleen", "96,96,96")
    assert (args.epochs, args.folds, args.seed) == (100, 5, 0)
    assert args.learning_rate == pytest.approx(0.002)
    assert args.reference_pattern == ".*manual.*"
    assert args.max_minutes is None  # no time budget unless one is given


def test_the_train_wrappers_time_budget_reaches_the_step_as_minutes() -> None:
    from containers.train.__main__ import build_parser

    train, _classifier = step_commands("train")
    values = SAMPLE_XNAT_VALUES | {"model-name": "organs", "time-budget": "45"}
    words = shlex.split(fill_command_line(train, values))
    assert build_parser().parse_args(words[3:]).max_minutes == pytest.approx(45.0)
