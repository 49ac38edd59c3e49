"""`xnat:qcAssessmentData`: per-scan figures (Dice per label, distances, …) on a session.

Core XNAT, no plugin needed: root `xnat:QCAssessment`, the shared image assessor elements, then
`xnat:scans/xnat:scan[@id]`, each with `xnat:scanStatistics` of `xsi:type="xnat:statisticsData"`
whose `xnat:additionalStatistics[@name]` are doubles and `xnat:addField[@name]` are text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from xnat_plugin.assessors.image_assessor import (
    XNAT,
    ImageAssessor,
    format_double,
    item_text,
    new_root,
    parse_double,
    read_image_assessor_values,
    serialize,
    write_image_assessor_elements,
)
from xnat_plugin.assessors.xsd import XNAT_NAMESPACE, XSI_NAMESPACE
from xnat_plugin.errors import UserError

QC_ASSESSMENT_XSI_TYPE = "xnat:qcAssessmentData"
QC_ASSESSMENT_ROOT = "QCAssessment"
STATISTICS_XSI_TYPE = "xnat:statisticsData"


class ScanStatistics(BaseModel):
    """The figures about one scan: numbers in `statistics`, text in `text_fields`."""

    model_config = ConfigDict(extra="forbid")

    scan_id: str
    statistics: dict[str, float] = Field(default_factory=dict)
    text_fields: dict[str, str] = Field(default_factory=dict)

    @field_validator("scan_id")
    @classmethod
    def _scan_id_present(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("scan_id must not be empty")
        return value


class QcAssessment(ImageAssessor):
    """A QC assessment; XNAT requires at least one scan."""

    scans: list[ScanStatistics]
    qc_type: str | None = Field(default=None, description="the `type` attribute, e.g. 'monai'")

    @field_validator("scans")
    @classmethod
    def _at_least_one_scan(cls, value: list[ScanStatistics]) -> list[ScanStatistics]:
        if not value:
            raise ValueError("a qcAssessment needs at least one scan (xnat:scans/xnat:scan)")
        return value

    def to_xml(self) -> str:
        root = new_root(f"{XNAT}:{QC_ASSESSMENT_ROOT}", self, {})
        if self.qc_type is not None:
            root.set("type", self.qc_type)
        write_image_assessor_elements(root, self)
        scans = ET.SubElement(root, f"{XNAT}:scans")
        for scan in self.scans:
            scan_element = ET.SubElement(scans, f"{XNAT}:scan", {"id": scan.scan_id})
            statistics = ET.SubElement(
                scan_element, f"{XNAT}:scanStatistics", {"xsi:type": STATISTICS_XSI_TYPE}
            )
            for name, value in scan.statistics.items():
                figure = ET.SubElement(statistics, f"{XNAT}:additionalStatistics", {"name": name})
                figure.text = format_double(value)
            for name, text in scan.text_fields.items():
                ET.SubElement(statistics, f"{XNAT}:addField", {"name": name}).text = text
        return serialize(root)

    @classmethod
    def from_xml(cls, xml: str | bytes) -> QcAssessment:
        return parse_qc_assessment(xml)


def parse_qc_assessment(xml: str | bytes) -> QcAssessment:
    root = ET.fromstring(xml)
    if root.tag != f"{{{XNAT_NAMESPACE}}}{QC_ASSESSMENT_ROOT}":
        raise UserError(
            f"expected an xnat:{QC_ASSESSMENT_ROOT} document, got root element {root.tag}: "
            "pass the XML of an xnat:qcAssessmentData assessor"
        )
    values = read_image_assessor_values(root)
    if root.get("type") is not None:
        values["qc_type"] = root.get("type")
    scans: list[dict[str, object]] = []
    for scan in root.iterfind(f"{{{XNAT_NAMESPACE}}}scans/{{{XNAT_NAMESPACE}}}scan"):
        statistics: dict[str, float] = {}
        text_fields: dict[str, str] = {}
        block = scan.find(f"{{{XNAT_NAMESPACE}}}scanStatistics")
        if block is not None and block.get(f"{{{XSI_NAMESPACE}}}type", "").endswith(
            "statisticsData"
        ):
            for figure in block.findall(f"{{{XNAT_NAMESPACE}}}additionalStatistics"):
                statistics[figure.get("name", "")] = parse_double(item_text(figure) or "nan")
            for text in block.findall(f"{{{XNAT_NAMESPACE}}}addField"):
                text_fields[text.get("name", "")] = item_text(text)
        scans.append(
            {"scan_id": scan.get("id", ""), "statistics": statistics, "text_fields": text_fields}
        )
    values["scans"] = scans
    try:
        return QcAssessment.model_validate(values)
    except ValidationError as exc:
        raise UserError(f"xnat:{QC_ASSESSMENT_ROOT} document is incomplete: {exc}") from exc
