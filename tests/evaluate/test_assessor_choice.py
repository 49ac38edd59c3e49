"""Choosing the AI and reference assessors by label pattern."""

from __future__ import annotations

import pytest

from containers.evaluate.assessor_choice import choose_pair, model_name_from_label
from xnat_plugin.client.browse import AssessorInfo
from xnat_plugin.errors import UserError


def _roi(label: str, date: str = "2026-01-01") -> AssessorInfo:
    return AssessorInfo(id=label, label=label, xsi_type="icr:roiCollectionData", date=date)


def test_newest_by_label_timestamp_even_when_alphabetically_first():
    assessors = [
        _roi("S1_manual_SEG"),
        _roi("S1_monai_zeta_20260101120000"),
        _roi("S1_monai_alpha_20260301120000"),
    ]
    ai, reference = choose_pair(assessors, ".*_monai_.*", ".*manual.*", "S1")
    assert ai.label == "S1_monai_alpha_20260301120000"
    assert reference.label == "S1_manual_SEG"


def test_patterns_that_pick_the_same_assessor_are_refused():
    with pytest.raises(UserError, match="both pick"):
        choose_pair([_roi("S1_monai_manual_20260101120000")], ".*monai.*", ".*manual.*", "S1")


def test_other_assessor_types_are_ignored():
    qc = AssessorInfo(id="q", label="S1_monai_eval_20260101", xsi_type="xnat:qcAssessmentData")
    with pytest.raises(UserError, match="no segmentation assessor"):
        choose_pair([qc, _roi("S1_manual_SEG")], ".*_monai_.*", ".*manual.*", "S1")


def test_invalid_regular_expression_is_a_user_error():
    with pytest.raises(UserError, match="not a regular expression"):
        choose_pair([_roi("S1_manual_SEG")], "(", ".*manual.*", "S1")


def test_model_name_is_read_from_the_ai_label():
    assert model_name_from_label("S1_CT_monai_liver_net_20260101120000", "S1_CT") == "liver_net"
    assert model_name_from_label("something_else", "S1_CT") == ""
