from __future__ import annotations

import pytest

from xnat_plugin.runner.matchers import (
    MatcherSyntaxError,
    compile_matcher,
    filter_children,
    matches,
)

SESSION = {
    "id": "XNAT_E00001",
    "label": "CT_001",
    "xsiType": "xnat:ctSessionData",
    "uri": "/archive/experiments/XNAT_E00001",
    "project-id": "LIVER",
    "subject-id": "XNAT_S00001",
    "scans": [
        {
            "id": "1",
            "label": "1 - LOCALIZER",
            "scan-type": "LOCALIZER",
            "series-description": "Scout",
            "modality": "CT",
            "frames": 2,
            "resources": [{"id": "SNAPSHOTS", "label": "SNAPSHOTS", "files": []}],
        },
        {
            "id": "2",
            "label": "2 - ABD CT",
            "scan-type": "ABD CT",
            "series-description": "Abdomen portal venous",
            "modality": "CT",
            "frames": 120,
            "resources": [
                {"id": "DICOM", "label": "DICOM", "files": [{"name": "1.dcm", "size": 10}]}
            ],
        },
    ],
    "resources": [],
    "assessors": [
        {"id": "XNAT_E00002", "label": "CT_001_manual_SEG", "xsiType": "icr:roiCollectionData"},
        {"id": "XNAT_E00003", "label": "CT_001_eval", "xsiType": "xnat:qcAssessmentData"},
    ],
}


def test_dicom_in_resource_labels_picks_only_the_scan_with_dicom() -> None:
    kept = filter_children(SESSION["scans"], "'DICOM' in @.resources[*].label")
    assert [scan["id"] for scan in kept] == ["2"]


def test_equality_on_a_hyphenated_property_and_a_number() -> None:
    assert matches("@.scan-type == 'ABD CT' && @.frames > 100", SESSION["scans"][1])
    assert not matches("@.scan-type == 'ABD CT' && @.frames > 100", SESSION["scans"][0])


def test_xsitype_matcher_selects_roi_collections_among_assessors() -> None:
    kept = filter_children(SESSION["assessors"], "@.xsiType == 'icr:roiCollectionData'")
    assert [a["label"] for a in kept] == ["CT_001_manual_SEG"]


def test_regex_must_match_the_whole_label_and_honours_the_i_flag() -> None:
    assert matches("@.label =~ /.*manual.*/", SESSION["assessors"][0])
    assert not matches("@.label =~ /manual/", SESSION["assessors"][0])
    assert matches("@.label =~ /.*MANUAL.*/i", SESSION["assessors"][0])


def test_in_nin_and_anyof_with_array_literals_in_both_quote_styles() -> None:
    scan = SESSION["scans"][1]
    assert matches('@.scan-type in ["SCANTYPE", "ABD CT"]', scan)
    assert matches("@.scan-type nin ['SCANTYPE', 'OTHER']", scan)
    assert matches("@.resources[*].label anyof ['NIFTI', 'DICOM']", scan)
    assert not matches("@.resources[*].label noneof ['DICOM']", scan)


def test_or_not_and_parentheses_combine_as_in_jayway() -> None:
    scan = SESSION["scans"][0]
    assert matches("!(@.modality == 'MR') && (@.id == '9' || @.id == '1')", scan)
    assert not matches("@.modality != 'CT' || @.frames >= 3", scan)


def test_a_missing_property_never_matches_a_comparison() -> None:
    assert not matches("@.quality == 'usable'", SESSION["scans"][0])
    assert not matches("@.quality != 'usable'", SESSION["scans"][0])


def test_a_bare_path_tests_existence() -> None:
    assert matches("@.series-description", SESSION["scans"][0])
    assert not matches("@.note", SESSION["scans"][0])


def test_values_of_different_kinds_are_not_equal() -> None:
    assert not matches("@.frames == '2'", SESSION["scans"][0])
    assert matches("@.frames == 2.0", SESSION["scans"][0])
    assert not matches("@.id == 1", SESSION["scans"][0])


def test_size_empty_and_contains() -> None:
    scan = SESSION["scans"][1]
    assert matches("@.resources size 1", scan)
    assert matches("@.resources empty false", scan)
    assert matches("@.series-description contains 'portal'", scan)


def test_a_dollar_path_reads_the_whole_document() -> None:
    kept = compile_matcher("@.id == $.scans[1].id").filter(SESSION["scans"], SESSION)
    assert [scan["id"] for scan in kept] == ["2"]


@pytest.mark.parametrize(
    "bad",
    [
        "@.label ==",
        "@.label == 'DICOM",
        "@.label = 'DICOM'",
        "(@.label == 'x'",
        "'DICOM'",
        "@.label =~ 'DICOM'",
        "@.label == foo",
        "",
    ],
)
def test_matchers_container_service_would_reject_are_refused(bad: str) -> None:
    with pytest.raises(MatcherSyntaxError):
        compile_matcher(bad).matches(SESSION)


def test_a_filter_inside_a_path_selects_elements() -> None:
    from xnat_plugin.runner.matchers import read_json_path

    assert read_json_path(SESSION, "$.assessors[?(@.xsiType =~ /icr:.*/)].label") == [
        "CT_001_manual_SEG"
    ]
    assert read_json_path(SESSION, "$.label") == ["CT_001"]
    assert read_json_path(SESSION, "$.nothing") == []
    assert matches("@.resources[?(@.label == 'DICOM')] size 1", SESSION["scans"][1])
