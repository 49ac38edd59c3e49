"""Assessor XML that XNAT accepts: ROI collections (segmentations) and QC assessments (metrics).

- `roi_collection.RoiCollection` / `qc_assessment.QcAssessment`: typed values, `to_xml()`,
  `from_xml()`;
- `xsd.load_reference_schemas` / `xsd.load_schema_dir` and `xsd.validate`: check a document
  against XNAT's real schemas, offline.
"""

from xnat_plugin.assessors.qc_assessment import QcAssessment, ScanStatistics
from xnat_plugin.assessors.roi_collection import RoiCollection

__all__ = ["QcAssessment", "RoiCollection", "ScanStatistics"]
