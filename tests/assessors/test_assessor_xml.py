"""Assessor XML from the builders is what XNAT's own schemas accept, and reads back unchanged."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from xnat_plugin.assessors.qc_assessment import QcAssessment, ScanStatistics
from xnat_plugin.assessors.roi_collection import (
    ICR_LEGACY_NAMESPACE,
    RoiCollection,
    parse_roi_collection,
)
from xnat_plugin.assessors.xsd import Schemas, load_reference_schemas, validate, xsi_type_of
from xnat_plugin.errors import UserError


@pytest.fixture(scope="module")
def schemas(reference_dir: Path) -> Schemas:
    return load_reference_schemas(reference_dir)


def make_roi(**overrides: object) -> RoiCollection:
    values: dict[str, object] = {
        "id": "XNAT_E00010",
        "label": "SUBJ001_CT1_manual_SEG",
        "project": "LIVER",
        "session_id": "XNAT_E00001",
        "subject_id": "XNAT_S00001",
        "uid": "1.2.826.0.1.3680043.8.498.11",
        "series_uids": ["1.2.826.0.1.3680043.8.498.12"],
        "name": "manual segmentation",
        "description": "liver, spleen, kidney",
        "date": dt.date(2026, 11, 22),
        "time": dt.time(3, 30, 5),
        "fields": {"algorithm_type": "MANUAL", "model": "none"},
    }
    values.update(overrides)
    return RoiCollection.model_validate(values)


def make_qc(**overrides: object) -> QcAssessment:
    values: dict[str, object] = {
        "id": None,
        "label": "SUBJ001_CT1_monai_eval_20261122033005",
        "project": "LIVER",
        "session_id": "XNAT_E00001",
        "date": dt.date(2026, 11, 22),
        "qc_type": "monai-evaluation",
        "fields": {"reference": "SUBJ001_CT1_manual_SEG"},
        "scans": [
            ScanStatistics(
                scan_id="1",
                statistics={"dice_liver": 0.93, "dice_spleen": 0.871, "hd95_kidney": float("nan")},
                text_fields={"prediction": "SUBJ001_CT1_monai_spleen_20261122033000"},
            )
        ],
    }
    values.update(overrides)
    return QcAssessment.model_validate(values)


def test_roi_collection_xml_validates_against_xnat_and_icr_schemas(schemas: Schemas) -> None:
    assert validate(make_roi().to_xml(), schemas) == []


def test_roi_collection_without_optional_parts_still_validates(schemas: Schemas) -> None:
    roi = make_roi(series_uids=[], name=None, description=None, date=None, time=None, fields={})
    assert validate(roi.to_xml(), schemas) == []


def test_roi_collection_reads_back_to_the_same_value(schemas: Schemas) -> None:
    roi = make_roi()
    assert RoiCollection.from_xml(roi.to_xml()) == roi


def test_roi_collection_in_legacy_namespace_reads_back(schemas: Schemas) -> None:
    roi = make_roi()
    xml = roi.to_xml(namespace=ICR_LEGACY_NAMESPACE)
    assert ICR_LEGACY_NAMESPACE in xml
    assert parse_roi_collection(xml) == roi


def test_roi_collection_xsi_type_comes_from_the_schema(schemas: Schemas) -> None:
    assert xsi_type_of(make_roi().to_xml(), schemas) == "icr:roiCollectionData"


def test_qc_assessment_xml_validates_with_nan_figures(schemas: Schemas) -> None:
    xml = make_qc().to_xml()
    assert validate(xml, schemas) == []
    assert ">NaN<" in xml


def test_a_document_without_id_is_refused_as_sent(schemas: Schemas) -> None:
    """`xnat:experimentData/@ID` is required and XNAT validates the document as sent
    (`XMLValidator` in `DefaultCatalogService.insertXmlObject`), before it generates any ID."""
    qc = make_qc()
    xml = qc.to_xml().replace(f' ID="{qc.id}"', "")
    reasons = validate(xml, schemas)
    assert len(reasons) == 1 and "ID" in reasons[0]


def test_qc_assessment_reads_back_with_its_figures(schemas: Schemas) -> None:
    qc = make_qc(id="XNAT_E00020")
    back = QcAssessment.from_xml(qc.to_xml())
    figures = back.scans[0].statistics
    assert figures["dice_liver"] == 0.93
    assert figures["dice_spleen"] == 0.871
    assert math.isnan(figures["hd95_kidney"])
    assert back.model_dump(exclude={"scans"}) == qc.model_dump(exclude={"scans"})
    assert back.scans[0].text_fields == qc.scans[0].text_fields


def test_qc_assessment_xsi_type_is_core_xnat(schemas: Schemas) -> None:
    assert xsi_type_of(make_qc().to_xml(), schemas) == "xnat:qcAssessmentData"


def test_missing_session_id_fails_with_the_validators_reason(schemas: Schemas) -> None:
    xml = (
        make_roi().to_xml().replace("<xnat:imageSession_ID>XNAT_E00001</xnat:imageSession_ID>", "")
    )
    reasons = validate(xml, schemas)
    assert reasons, "a document without xnat:imageSession_ID must be refused"
    assert any("imageSession_ID" in reason for reason in reasons)


def test_builder_refuses_an_empty_session_id() -> None:
    with pytest.raises(ValidationError, match="session_id"):
        make_roi(session_id=" ")


def test_builder_refuses_a_label_xnat_cannot_address() -> None:
    with pytest.raises(ValidationError, match="letters, digits"):
        make_roi(label="manual seg (v2)")


def test_qc_assessment_needs_a_scan() -> None:
    with pytest.raises(ValidationError, match="at least one scan"):
        make_qc(scans=[])


def test_parsing_the_wrong_datatype_is_a_user_error() -> None:
    with pytest.raises(UserError, match="icr:RoiCollection"):
        RoiCollection.from_xml(make_qc().to_xml())


@pytest.mark.parametrize(
    ("example", "valid"),
    [
        ("qc_manual_assessment_minimal.xml", True),
        ("qc_manual_assessment_invalid_missing_session.xml", False),
        ("roi_collection_minimal.xml", True),
    ],
)
def test_reference_examples_get_their_expected_verdicts(
    schemas: Schemas, reference_dir: Path, example: str, valid: bool
) -> None:
    xml = (reference_dir / "xnat-schemas" / "examples" / example).read_bytes()
    reasons = validate(xml, schemas)
    assert (reasons == []) is valid, reasons


def test_reference_example_reads_into_a_roi_collection(reference_dir: Path) -> None:
    xml = (reference_dir / "xnat-schemas" / "examples" / "roi_collection_minimal.xml").read_bytes()
    roi = RoiCollection.from_xml(xml)
    assert roi.session_id == "XNAT_E00001"
    assert roi.series_uids == ["1.2.826.0.1.3680043.8.498.2"]
    assert roi.collection_type == "SEG"


def test_not_well_formed_xml_is_reported_not_raised(schemas: Schemas) -> None:
    assert validate("<icr:RoiCollection", schemas)[0].startswith("not well-formed XML")


def test_unknown_root_element_is_reported(schemas: Schemas) -> None:
    reasons = validate('<a:Thing xmlns:a="urn:nowhere"/>', schemas)
    assert "not declared" in reasons[0]


def test_schema_folder_is_built_once(reference_dir: Path) -> None:
    assert load_reference_schemas(reference_dir) is load_reference_schemas(reference_dir)


def test_missing_schema_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_reference_schemas(tmp_path)
