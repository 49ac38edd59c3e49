"""The infer image's detection command (`xnat-monai-detect`, wrapper `monai-detect-session`):
its command line, filled in as XNAT fills it, parses with the detection step's own parser,
and its default overrides reach MONAI's ConfigParser as the zoo bundle needs them."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from containers.common.bundle_pipeline import read_config
from containers.detection.__main__ import build_parser
from containers.infer.model_loading import parse_overrides
from tests.commands.test_catalogue import SAMPLE_XNAT_VALUES, fill_command_line
from xnat_plugin.commands.catalogue import CPU, GPU, Variant, step_commands


def _detector(variant: Variant):
    (command,) = [
        c for c in step_commands("infer", variant) if c.name.startswith("xnat-monai-detect")
    ]
    return command


@pytest.mark.parametrize("variant", [GPU, CPU], ids=["gpu", "cpu"])
def test_detect_command_line_parses_with_the_detection_steps_parser(variant: Variant) -> None:
    command = _detector(variant)
    words = shlex.split(fill_command_line(command, SAMPLE_XNAT_VALUES))
    assert words[:4] == ["python", "-m", "containers.detection", "infer-session"]
    args = build_parser().parse_args(words[3:])
    assert (str(args.input), str(args.model), str(args.output)) == ("/input", "/models", "/output")
    assert args.model_name == "lung_nodule_ct_detection"
    assert (args.session_id, args.project, args.subject) == ("XNAT_E00001", "LIVER", "XNAT_S00001")
    assert (args.session_label, args.scan_id) == ("CT_001", "2")
    assert args.threshold == 0.5 and args.device == variant.default_device
    (wrapper,) = command.xnat
    assert wrapper.name == f"monai-detect-session{variant.suffix}"
    handlers = {h.name: h for h in wrapper.output_handlers}
    assert handlers["detection-assessor"].xsi_type == "icr:roiCollectionData"
    assert {h.label for h in handlers.values() if h.type == "Resource"} == {
        "RTSTRUCT", "SR", "FINDINGS", "REPORT"
    }  # fmt: skip


def test_the_default_override_enables_the_zoo_bundles_own_spacing(tmp_path: Path) -> None:
    """MONAI reads `::` as its level separator: the default override turns the bundle's
    Spacingd (the fifth preprocessing transform, disabled for pre-resampled LUNA16) on."""
    args = build_parser().parse_args(
        shlex.split(fill_command_line(_detector(GPU), SAMPLE_XNAT_VALUES))[3:]
    )
    overrides = parse_overrides(args.overrides.split())
    bundle = tmp_path / "bundle"
    (bundle / "configs").mkdir(parents=True)
    transforms = [{"_target_": "LoadImaged", "keys": "image"}] * 4 + [
        {"_target_": "Spacingd", "keys": "image", "pixdim": [1, 1, 1], "_disabled_": True}
    ]
    config = {"preprocessing": {"_target_": "Compose", "transforms": transforms}}
    (bundle / "configs" / "inference.json").write_text(json.dumps(config))
    (bundle / "configs" / "metadata.json").write_text("{}")
    _path, read = read_config(bundle, overrides)
    assert read["preprocessing"]["transforms"][4]["_disabled_"] is False
