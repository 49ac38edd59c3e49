from __future__ import annotations

import pytest

from xnat_plugin.runner.xsi_types import is_subtype, matches_contexts


@pytest.mark.parametrize(
    "xsi_type, context",
    [
        ("xnat:ctSessionData", "xnat:imageSessionData"),
        ("xnat:mrSessionData", "xnat:subjectAssessorData"),
        ("xnat:petSessionData", "xnat:experimentData"),
        ("xnat:ctScanData", "xnat:imageScanData"),
        ("icr:roiCollectionData", "xnat:imageAssessorData"),
        ("xnat:qcAssessmentData", "xnat:experimentData"),
        ("xnat:projectData", "xnat:projectData"),
    ],
)
def test_a_type_matches_the_contexts_it_extends(xsi_type: str, context: str) -> None:
    assert is_subtype(xsi_type, context)


@pytest.mark.parametrize(
    "xsi_type, context",
    [
        ("xnat:ctSessionData", "xnat:mrSessionData"),
        ("xnat:imageSessionData", "xnat:ctSessionData"),
        ("xnat:ctScanData", "xnat:imageSessionData"),
        ("icr:roiCollectionData", "xnat:imageSessionData"),
        ("xnat:projectData", "xnat:experimentData"),
    ],
)
def test_a_type_does_not_match_unrelated_or_narrower_contexts(xsi_type: str, context: str) -> None:
    assert not is_subtype(xsi_type, context)


def test_an_empty_context_list_matches_nothing() -> None:
    assert not matches_contexts("xnat:ctSessionData", [])
    assert matches_contexts("xnat:ctSessionData", ["xnat:mrSessionData", "xnat:imageSessionData"])
