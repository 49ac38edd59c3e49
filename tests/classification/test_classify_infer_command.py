"""The classify infer command in the catalogue (`xnat_plugin/commands/catalogue/
classify_infer.py`): its command line parses with the step's own parser; its wrapper mounts the
scan the project's scan rule picks (the derived input `scan`, as the segmentation wrapper) and
MONAI_MODELS, and uploads an xnat:qcAssessmentData with the report and explanation on it."""

from __future__ import annotations

import shlex

import pytest

from containers.classify.__main__ import build_parser
from tests.commands.test_catalogue import SAMPLE_XNAT_VALUES, fill_command_line
from xnat_plugin.admin.install import SCAN_INPUT
from xnat_plugin.commands.catalogue import CPU, GPU, Variant, step_commands


@pytest.mark.parametrize("variant", [GPU, CPU], ids=["gpu", "cpu"])
def test_the_classify_infer_command_line_parses_with_the_steps_parser(variant: Variant) -> None:
    segmentation, classify, _detector = step_commands("infer", variant)
    assert classify.name == f"xnat-monai-classify-infer{variant.suffix}"
    assert classify.image == segmentation.image
    words = shlex.split(fill_command_line(classify, SAMPLE_XNAT_VALUES | {"model-name": "les"}))
    assert words[:4] == ["python", "-m", "containers.classify", "infer"]
    args = build_parser().parse_args(words[3:])
    assert (str(args.input), str(args.model), args.model_name) == ("/input", "/models", "les")
    assert (args.session_id, args.project, args.subject) == ("XNAT_E00001", "LIVER", "XNAT_S00001")
    assert (args.session_label, args.scan_id, str(args.output)) == ("CT_001", "2", "/output")
    assert args.device == variant.default_device
    assert args.explain_layer == ""
    words = shlex.split(fill_command_line(classify, SAMPLE_XNAT_VALUES | {"explain-layer": "a.b"}))
    assert build_parser().parse_args(words[3:]).explain_layer == "a.b"


def test_the_wrapper_mounts_the_rule_s_scan_and_stores_a_qc_assessment() -> None:
    _segmentation, classify, _detector = step_commands("infer", CPU)
    (wrapper,) = classify.xnat
    assert wrapper.contexts == ["xnat:imageSessionData"]
    derived = {d.name: d for d in wrapper.derived_inputs}
    # `xnat-monai install --scan-rule` sets the matcher of the derived Scan input named so.
    assert derived[SCAN_INPUT].type == "Scan"
    assert derived["scan-dicom"].provides_files_for_command_mount == "input"
    assert derived["models"].provides_files_for_command_mount == "models"
    handlers = {h.name: h for h in wrapper.output_handlers}
    assessor = handlers["classification-assessor"]
    assert (assessor.type, assessor.xsi_type) == ("Assessor", "xnat:qcAssessmentData")
    resources = {
        h.label: h.accepts_command_output
        for h in wrapper.output_handlers
        if h.as_a_child_of == "classification-assessor"
    }
    assert resources == {"REPORT": "report", "EXPLANATION": "explanation"}
    paths = {o.name: o.path for o in classify.outputs}
    assert paths == {"assessor": "assessor.xml", "report": "REPORT", "explanation": "EXPLANATION"}
