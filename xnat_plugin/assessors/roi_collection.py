"""`icr:roiCollectionData`: a segmentation (DICOM SEG, RTSTRUCT, AIM) attached to a session.

The datatype of the ICR ROI plugin (the one XNAT's OHIF viewer reads): root `icr:RoiCollection`,
the shared `xnat:imageAssessorData` elements, then `icr:UID` (the SEG's SOPInstanceUID),
`icr:collectionType`, `icr:subjectID` (the subject's XNAT ID), `icr:references/icr:seriesUID`
(the segmented series), `icr:name`, `icr:description`. The files go in assessor resource `SEG`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pydantic import Field, ValidationError, field_validator

from xnat_plugin.assessors.image_assessor import (
    ImageAssessor,
    child_text,
    item_text,
    new_root,
    read_image_assessor_values,
    serialize,
    write_image_assessor_elements,
)
from xnat_plugin.errors import UserError

ICR_NAMESPACE = "http://icr.ac.uk/icr"
# Older releases of the ROI plugin declared this one; XNATs running them expect it.
ICR_LEGACY_NAMESPACE = "http://www.icr.ac.uk/icr"
ROI_COLLECTION_XSI_TYPE = "icr:roiCollectionData"
ROI_COLLECTION_ROOT = "RoiCollection"
# The plugin writes SEG and RTSTRUCT; the schema documents AIM and SEGMENTATION too.
COLLECTION_TYPES = ("SEG", "RTSTRUCT", "AIM", "SEGMENTATION")


class RoiCollection(ImageAssessor):
    """One ROI collection assessor; `to_xml()` writes what XNAT's ROI plugin stores."""

    uid: str = Field(description="SOPInstanceUID of the DICOM SEG (or RTSTRUCT) file")
    subject_id: str = Field(description="the subject's XNAT ID, e.g. XNAT_S00001")
    collection_type: str = "SEG"
    series_uids: list[str] = Field(default_factory=list)
    name: str | None = None
    description: str | None = None

    @field_validator("collection_type")
    @classmethod
    def _known_collection_type(cls, value: str) -> str:
        if value not in COLLECTION_TYPES:
            raise ValueError(
                f"collection_type {value!r} is not one of {', '.join(COLLECTION_TYPES)}"
            )
        return value

    @field_validator("uid", "subject_id")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    def to_xml(self, namespace: str = ICR_NAMESPACE) -> str:
        """The assessor document, with the ICR datatype in `namespace`."""
        root = new_root(f"icr:{ROI_COLLECTION_ROOT}", self, {"icr": namespace})
        write_image_assessor_elements(root, self)
        ET.SubElement(root, "icr:UID").text = self.uid
        ET.SubElement(root, "icr:collectionType").text = self.collection_type
        ET.SubElement(root, "icr:subjectID").text = self.subject_id
        if self.series_uids:
            references = ET.SubElement(root, "icr:references")
            for series_uid in self.series_uids:
                ET.SubElement(references, "icr:seriesUID").text = series_uid
        if self.name is not None:
            ET.SubElement(root, "icr:name").text = self.name
        if self.description is not None:
            ET.SubElement(root, "icr:description").text = self.description
        return serialize(root)

    @classmethod
    def from_xml(cls, xml: str | bytes) -> RoiCollection:
        """Read a document written by `to_xml` (or by XNAT), in either ICR namespace."""
        return parse_roi_collection(xml)


def parse_roi_collection(xml: str | bytes) -> RoiCollection:
    root = ET.fromstring(xml)
    namespace, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", "")
    if local != ROI_COLLECTION_ROOT or namespace not in (ICR_NAMESPACE, ICR_LEGACY_NAMESPACE):
        raise UserError(
            f"expected an icr:{ROI_COLLECTION_ROOT} document, got root element {root.tag}: "
            "pass the XML of an icr:roiCollectionData assessor"
        )
    values = read_image_assessor_values(root)
    values["uid"] = child_text(root, namespace, "UID") or ""
    values["collection_type"] = child_text(root, namespace, "collectionType") or ""
    values["subject_id"] = child_text(root, namespace, "subjectID") or ""
    references = root.find(f"{{{namespace}}}references")
    if references is not None:
        values["series_uids"] = [
            item_text(element) for element in references.findall(f"{{{namespace}}}seriesUID")
        ]
    for key, local_name in (("name", "name"), ("description", "description")):
        text = child_text(root, namespace, local_name)
        if text is not None:
            values[key] = text
    try:
        return RoiCollection.model_validate(values)
    except ValidationError as exc:
        raise UserError(f"icr:{ROI_COLLECTION_ROOT} document is incomplete: {exc}") from exc
