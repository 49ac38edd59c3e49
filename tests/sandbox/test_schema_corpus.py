"""The sandbox's own XSDs (`xnat_plugin/sandbox/schemas/`, a part of XNAT's data model) give the
same verdict as XNAT's full `xnat.xsd` + `roi.xsd` (what `XMLValidator` in
`DefaultCatalogService.insertXmlObject` validates with) on a corpus of documents: ours, the
seeded ones, and the usual mistakes. Documents are validated exactly as written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.sandbox.xml_documents import qc_assessment_xml, roi_collection_xml
from xnat_plugin.assessors.qc_assessment import QcAssessment, ScanStatistics
from xnat_plugin.assessors.roi_collection import RoiCollection
from xnat_plugin.assessors.xsd import load_reference_schemas
from xnat_plugin.sandbox.xml_validation import (
    InvalidXml,
    parse_document,
    sandbox_schema,
    validate_as_sent,
)

ICR = "http://icr.ac.uk/icr"


def _roi(**changes: str) -> str:
    xml = roi_collection_xml("XNAT_E00001", "XNAT_S00001", "seg", with_id="XNAT_E00002")
    xml = xml.replace(' label="seg"', ' project="P" label="seg"')
    for old, new in changes.items():
        xml = xml.replace(old.replace("_", " ") if old.startswith("attr ") else old, new)
    return xml


def _qc(**replacements: str) -> str:
    xml = qc_assessment_xml("XNAT_E00001", "qc", 0.91).replace(
        ' label="qc"', ' ID="XNAT_E00003" project="P" label="qc"'
    )
    for old, new in replacements.items():
        xml = xml.replace(old, new)
    return xml


def _product_documents() -> dict[str, str]:
    seg = RoiCollection(
        id="XNAT_E00010",
        label="s1_CT_monai_spleen_20260101120000",
        project="P",
        session_id="XNAT_E00001",
        date=dt.date(2026, 1, 1),
        time=dt.time(12, 0, 0),
        uid="1.2.826.0.1.3680043.8.498.7",
        subject_id="XNAT_S00001",
        series_uids=["1.2.826.0.1.3680043.8.498.8"],
        name="spleen",
        description="AI segmentation",
        fields={"model": "spleen", "algorithm_type": "AUTOMATIC"},
    )
    manual = RoiCollection(
        id="XNAT_E00011",
        label="s1_CT_manual_SEG",
        project="P",
        session_id="XNAT_E00001",
        subject_id="XNAT_S00001",
        uid="1.2.826.0.1.3680043.8.498.9",
        series_uids=["1.2.826.0.1.3680043.8.498.8"],
        name="manual",
        description="Manual reference segmentation: liver, spleen, kidney",
        date=dt.date(2025, 3, 4),
        fields={"algorithm_type": "MANUAL"},
    )
    qc = QcAssessment(
        id="XNAT_E00012",
        label="s1_CT_monai_eval_20260101120000",
        project="P",
        session_id="XNAT_E00001",
        scans=[
            ScanStatistics(
                scan_id="1",
                statistics={"dice_liver": 0.93, "hd95_liver_mm": 2.5},
                text_fields={"reference": "s1_CT_manual_SEG"},
            )
        ],
    )
    return {
        "product roi": seg.to_xml(),
        "seeded manual roi": manual.to_xml(),
        "product qc": qc.to_xml(),
    }


SESSION = (
    '<xnat:MRSession xmlns:xnat="http://nrg.wustl.edu/xnat" ID="XNAT_E00020" project="P" '
    'label="s1_MR" modality="MR"><xnat:date>2014-12-09</xnat:date><xnat:time>14:23:50</xnat:time>'
    "<xnat:acquisition_site>Site A</xnat:acquisition_site><xnat:subject_ID>XNAT_S00001</xnat:subject_ID>"
    '<xnat:scanner manufacturer="GE MEDICAL SYSTEMS" model="DISCOVERY MR750w">GEMS</xnat:scanner>'
    "<xnat:dcmPatientId>10001</xnat:dcmPatientId><xnat:dcmPatientName>10001</xnat:dcmPatientName>"
    "<xnat:fieldStrength>3.0</xnat:fieldStrength></xnat:MRSession>"
)

CORPUS: dict[str, str] = {
    **_product_documents(),
    "roi": _roi(),
    "roi without ID": _roi(**{' ID="XNAT_E00002"': ""}),
    "roi without imageSession_ID": _roi(
        **{"<xnat:imageSession_ID>XNAT_E00001</xnat:imageSession_ID>": ""}
    ),
    "roi in the old ICR namespace": _roi(**{ICR: "http://www.icr.ac.uk/icr"}),
    "roi without collectionType": _roi(**{"<icr:collectionType>SEG</icr:collectionType>": ""}),
    "roi without UID": _roi(**{"<icr:UID>1.2.826.0.1.3680043.8.498.1</icr:UID>": ""}),
    "roi without subjectID": _roi(**{"<icr:subjectID>XNAT_S00001</icr:subjectID>": ""}),
    "roi with an unknown element": _roi(**{"<icr:name>": "<icr:colour>red</icr:colour><icr:name>"}),
    "roi with UID before imageSession_ID": _roi(
        **{
            "<xnat:imageSession_ID>XNAT_E00001</xnat:imageSession_ID>\n  <icr:UID>1.2.826.0.1.3680043.8.498.1</icr:UID>": (
                "<icr:UID>1.2.826.0.1.3680043.8.498.1</icr:UID>"
                "<xnat:imageSession_ID>XNAT_E00001</xnat:imageSession_ID>"
            )
        }
    ),
    "roi with a bad date": _roi(
        **{"<xnat:imageSession_ID>": "<xnat:date>tomorrow</xnat:date><xnat:imageSession_ID>"}
    ),
    "roi with an empty references list": _roi(
        **{
            "<icr:references><icr:seriesUID>1.2.826.0.1.3680043.8.498.2</icr:seriesUID></icr:references>": "<icr:references/>"
        }
    ),
    "roi with fields": _roi(
        **{
            "<xnat:imageSession_ID>": '<xnat:fields><xnat:field name="model">spleen</xnat:field></xnat:fields><xnat:imageSession_ID>'
        }
    ),
    "qc": _qc(),
    "qc without scans": _qc(**{"<xnat:scans>": "<!--", "</xnat:scans>": "-->"}),
    "qc scan without id": _qc(**{'<xnat:scan id="1">': "<xnat:scan>"}),
    "qc with a text statistic": _qc(**{">0.91<": ">high<"}),
    "qc without ID": _qc(**{' ID="XNAT_E00003"': ""}),
    "mr session": SESSION,
    "mr session without subject": SESSION.replace(
        "<xnat:subject_ID>XNAT_S00001</xnat:subject_ID>", ""
    ),
    "mr session with frames as text": SESSION.replace(
        "<xnat:dcmPatientId>",
        '<xnat:scans><xnat:scan ID="1" xsi:type="xnat:mrScanData" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><xnat:frames>many</xnat:frames>'
        "</xnat:scan></xnat:scans><xnat:dcmPatientId>",
    ),
    "mr session with a scan": SESSION.replace(
        "<xnat:dcmPatientId>",
        '<xnat:scans><xnat:scan ID="1" type="T1" xsi:type="xnat:mrScanData" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><xnat:frames>176</xnat:frames>'
        "</xnat:scan></xnat:scans><xnat:dcmPatientId>",
    ),
}


@pytest.fixture(scope="module")
def reference_schema(reference_dir: Path):
    return load_reference_schemas(reference_dir).schema


def _xnat_verdict(schema, xml: str) -> bool:
    document = parse_document(xml.encode())
    return (
        next(iter(schema.iter_errors(document.root, namespaces=document.namespaces)), None) is None
    )


def _sandbox_verdict(xml: str) -> bool:
    try:
        validate_as_sent(parse_document(xml.encode()))
    except InvalidXml:
        return False
    return True


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_sandbox_schemas_give_xnats_verdict(reference_schema, name: str) -> None:
    xml = CORPUS[name]
    assert _sandbox_verdict(xml) == _xnat_verdict(reference_schema, xml), name


def test_the_corpus_holds_valid_and_invalid_documents(reference_schema) -> None:
    verdicts = {name: _xnat_verdict(reference_schema, xml) for name, xml in CORPUS.items()}
    assert verdicts["product roi"] and verdicts["seeded manual roi"] and verdicts["product qc"]
    assert not verdicts["roi without ID"] and not verdicts["roi without imageSession_ID"]
    assert not verdicts["roi in the old ICR namespace"]


def test_every_type_the_sandbox_declares_is_xnats_type_narrowed(reference_schema) -> None:
    """Each complex type of the sandbox schemas keeps XNAT's elements in XNAT's order with
    XNAT's occurrences, and leaves out no element or attribute XNAT requires: what the sandbox
    accepts, XNAT accepts, and what XNAT refuses for a missing value, the sandbox refuses."""
    ours = sandbox_schema()
    problems: list[str] = []
    for name, own in ours.maps.types.items():
        if not str(name).startswith(("{http://nrg.wustl.edu/xnat}", "{http://icr.ac.uk/icr}")):
            continue
        theirs = reference_schema.maps.types.get(name)
        if theirs is None or own.is_simple() or theirs.is_simple():
            continue
        own_elements = (
            [(str(e.name), e.min_occurs, e.max_occurs) for e in own.content.iter_elements()]
            if hasattr(own.content, "iter_elements")
            else []
        )
        their_elements = (
            [(str(e.name), e.min_occurs, e.max_occurs) for e in theirs.content.iter_elements()]
            if hasattr(theirs.content, "iter_elements")
            else []
        )
        positions = {element[0]: index for index, element in enumerate(their_elements)}
        last = -1
        for element in own_elements:
            where = positions.get(element[0])
            if where is None:
                problems.append(f"{name}: {element[0]} is not XNAT's")
                continue
            if where < last:
                problems.append(f"{name}: {element[0]} out of XNAT's order")
            last = where
            if element[1:] != their_elements[where][1:]:
                problems.append(
                    f"{name}: {element[0]} occurs {element[1:]}, XNAT {their_elements[where][1:]}"
                )
        own_names = {element[0] for element in own_elements}
        for element in their_elements:
            if element[1] and element[0] not in own_names:
                problems.append(f"{name}: required {element[0]} left out")
        own_attributes = {str(k): a for k, a in own.attributes.items()}
        for key, attribute in theirs.attributes.items():
            if attribute.use == "required" and str(key) not in own_attributes:
                problems.append(f"{name}: required attribute {key} left out")
        for key, attribute in own_attributes.items():
            theirs_attribute = theirs.attributes.get(key)
            if theirs_attribute is None:
                problems.append(f"{name}: attribute {key} is not XNAT's")
            elif attribute.use != theirs_attribute.use:
                problems.append(
                    f"{name}: attribute {key} use {attribute.use}, XNAT {theirs_attribute.use}"
                )
    assert problems == []
