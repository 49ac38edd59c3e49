"""Which XSI types count as which: a wrapper context matches its subtypes.

XNAT's data types extend one another in the schemas (`xnat:ctSessionData` extends
`xnat:imageSessionData`, which extends `xnat:subjectAssessorData`, which extends
`xnat:experimentData`). Container Service offers a wrapper whose context is a base type on
every object of a derived type. The chains below are those of `xnat.xsd` for the core types;
a type from another schema is placed by its name's suffix (`…SessionData`, `…ScanData`,
`…AssessorData`), as every modality and assessor plugin names its types.
"""

from __future__ import annotations

_CHAINS: dict[str, tuple[str, ...]] = {
    "session": ("xnat:imageSessionData", "xnat:subjectAssessorData", "xnat:experimentData"),
    "scan": ("xnat:imageScanData",),
    "assessor": ("xnat:imageAssessorData", "xnat:derivedData", "xnat:experimentData"),
    "subject_assessor": ("xnat:subjectAssessorData", "xnat:experimentData"),
    "resource": ("xnat:abstractResource",),
}

# Core types whose names do not say what they extend.
_KNOWN: dict[str, str] = {
    "icr:roiCollectionData": "assessor",
    "xnat:qcAssessmentData": "assessor",
    "xnat:qcManualAssessorData": "assessor",
    "xnat:reconstructedImageData": "assessor",
    "xnat:statisticsData": "assessor",
    "xnat:resourceCatalog": "resource",
    "xnat:resource": "resource",
}


def supertypes(xsi_type: str) -> list[str]:
    """`xsi_type` followed by every type it extends, nearest first."""
    family = _KNOWN.get(xsi_type)
    if family is None:
        local = xsi_type.split(":", 1)[-1]
        if local.endswith("SessionData"):
            family = "session"
        elif local.endswith("ScanData"):
            family = "scan"
        elif local.endswith(("AssessorData", "AssessmentData")):
            family = "assessor"
    chain = _CHAINS.get(family or "", ())
    return [xsi_type, *(base for base in chain if base != xsi_type)]


def is_subtype(xsi_type: str, context: str) -> bool:
    """True when an object of `xsi_type` may run a wrapper with `context`."""
    return context in supertypes(xsi_type)


def matches_contexts(xsi_type: str, contexts: list[str]) -> bool:
    """Container Service's rule: an empty context list matches nothing."""
    return any(is_subtype(xsi_type, context) for context in contexts)
