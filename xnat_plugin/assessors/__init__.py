"""Assessor XML that XNAT accepts: ROI collections (segmentations) and QC assessments (metrics).

- `roi_collection.RoiCollection` / `qc_assessment.QcAssessment`: typed values, `to_xml()`,
  `from_xml()`;
- `xsd.load_reference_schemas` / `xsd.load_schema_dir` and `xsd.validate`: check a document
  against XNAT's real schemas, offline.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xnat_plugin.assessors.qc_assessment import QcAssessment, ScanStatistics
    from xnat_plugin.assessors.roi_collection import RoiCollection

__all__ = ["QcAssessment", "RoiCollection", "ScanStatistics"]

# Imported on first use (PEP 562): a step that only needs `assessor_id`'s rule does not load
# pydantic and the XML schema library at start-up.
_HOMES = {
    "QcAssessment": "qc_assessment",
    "ScanStatistics": "qc_assessment",
    "RoiCollection": "roi_collection",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
