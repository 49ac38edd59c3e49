"""Coded concepts for a SEG's segments: SNOMED CT for known structures, a valid generic code
otherwise.

A segment is described by a category (e.g. "Anatomical Structure") and a type (e.g. "Spleen"),
optionally with a laterality modifier ("Left", "Right"), as DICOM PS3.3 C.8.20.4 and the
context groups CID 7150 / 7151 / 7152 describe them. Names are looked up loosely: case,
underscores, hyphens and word order of a "left"/"right" token do not matter, so "kidney_left",
"Left kidney" and "left-kidney" all read as Kidney + Left.

The codes are SNOMED CT concept IDs with their preferred meanings (cross-checked against the
DICOM context groups and the mapping TotalSegmentator publishes for its classes). A name that
is not in the table gets category and type "Tissue" (85756007), the generic pair DICOM viewers
such as 3D Slicer use; the segment's own name stays in its SegmentLabel.
"""

from __future__ import annotations

import re

from pydantic import BaseModel


class CodedConcept(BaseModel):
    """A coded concept (value, scheme, meaning) as DICOM SEG stores it."""

    value: str
    scheme: str = "SCT"
    meaning: str


class SegmentCodes(BaseModel):
    """Category and type (with an optional laterality modifier) of one segment."""

    category: CodedConcept
    type: CodedConcept
    modifier: CodedConcept | None = None


ANATOMICAL_STRUCTURE = CodedConcept(value="123037004", meaning="Anatomical Structure")
MORPHOLOGICALLY_ALTERED = CodedConcept(
    value="49755003", meaning="Morphologically Altered Structure"
)
TISSUE = CodedConcept(value="85756007", meaning="Tissue")
LEFT = CodedConcept(value="7771000", meaning="Left")
RIGHT = CodedConcept(value="24028007", meaning="Right")

GENERIC_CODES = SegmentCodes(category=TISSUE, type=TISSUE)

# name → (SNOMED CT code, meaning) of the segmented property type, anatomical structures.
_ANATOMY: dict[str, tuple[str, str]] = {
    "adrenal gland": ("23451007", "Adrenal gland"),
    "aorta": ("15825003", "Aorta"),
    "bladder": ("89837001", "Urinary bladder"),
    "brain": ("12738006", "Brain"),
    "brainstem": ("15926001", "Brainstem"),
    "clavicle": ("51299004", "Clavicle"),
    "clavicula": ("51299004", "Clavicle"),
    "colon": ("71854001", "Colon"),
    "duodenum": ("38848004", "Duodenum"),
    "esophagus": ("32849002", "Esophagus"),
    "femur": ("71341001", "Femur"),
    "gallbladder": ("28231008", "Gallbladder"),
    "heart": ("80891009", "Heart"),
    "humerus": ("85050009", "Humerus"),
    "inferior vena cava": ("64131007", "Inferior vena cava"),
    "kidney": ("64033007", "Kidney"),
    "liver": ("10200004", "Liver"),
    "lung": ("39607008", "Lung"),
    "pancreas": ("15776009", "Pancreas"),
    "peripheral zone": ("279706003", "Peripheral zone of the prostate"),
    "portal vein and splenic vein": ("110765007", "Portal vein and splenic vein"),
    "prostate": ("41216001", "Prostate"),
    "pulmonary artery": ("81040000", "Pulmonary artery"),
    "rectum": ("34402009", "Rectum"),
    "rib": ("113197003", "Rib"),
    "sacrum": ("54735007", "Sacrum"),
    "scapula": ("79601000", "Scapula"),
    "skull": ("89546000", "Skull"),
    "small bowel": ("30315005", "Small Intestine"),
    "small intestine": ("30315005", "Small Intestine"),
    "spinal cord": ("2748008", "Spinal cord"),
    "spleen": ("78961009", "Spleen"),
    "sternum": ("56873002", "Sternum"),
    "stomach": ("69695003", "Stomach"),
    "superior vena cava": ("48345005", "Superior vena cava"),
    "thyroid gland": ("69748006", "Thyroid gland"),
    "trachea": ("44567001", "Trachea"),
    "transition zone": ("399384005", "Transition zone of the prostate"),
    "urinary bladder": ("89837001", "Urinary bladder"),
    "vertebra": ("51282000", "Vertebra"),
}
# Lesions: category "Morphologically Altered Structure".
_LESIONS: dict[str, tuple[str, str]] = {
    "cyst": ("367643001", "Cyst"),
    "edema": ("79654002", "Edema"),
    "enhancing tumor": ("108369006", "Neoplasm"),
    "hemorrhage": ("50960005", "Hemorrhage"),
    "lesion": ("52988006", "Lesion"),
    "neoplasm": ("108369006", "Neoplasm"),
    "nodule": ("27925004", "Nodule"),
    "tumor": ("108369006", "Neoplasm"),
    "tumor core": ("108369006", "Neoplasm"),
    "tumour": ("108369006", "Neoplasm"),
    "whole tumor": ("108369006", "Neoplasm"),
}

_SIDES = {"left": LEFT, "l": LEFT, "right": RIGHT, "r": RIGHT}


def normalise_name(name: str) -> str:
    """Lower case, words separated by single spaces ("Kidney_Left" → "kidney left")."""
    return " ".join(re.split(r"[\s_\-]+", name.strip().lower())).strip()


def segment_codes_for(name: str) -> SegmentCodes:
    """SNOMED CT codes for a known structure (with laterality), else the generic "Tissue"."""
    words = normalise_name(name).split()
    known = _lookup(" ".join(words))
    if known is not None:
        return known
    sides = [w for w in words if w in _SIDES]
    if len(sides) == 1 and len(words) > 1:
        rest = " ".join(w for w in words if w not in _SIDES)
        found = _lookup(rest)
        if found is not None:
            return found.model_copy(update={"modifier": _SIDES[sides[0]]})
    return GENERIC_CODES


def _lookup(key: str) -> SegmentCodes | None:
    if key in _ANATOMY:
        value, meaning = _ANATOMY[key]
        return SegmentCodes(
            category=ANATOMICAL_STRUCTURE, type=CodedConcept(value=value, meaning=meaning)
        )
    if key in _LESIONS:
        value, meaning = _LESIONS[key]
        return SegmentCodes(
            category=MORPHOLOGICALLY_ALTERED, type=CodedConcept(value=value, meaning=meaning)
        )
    if key.endswith("s") and key[:-1] in _ANATOMY:  # "kidneys", "lungs"
        return _lookup(key[:-1])
    return None
