"""The labelled structures of the synthetic data, with the codes their DICOM SEG segments carry:
the abdominal organs, and the lung nodules of the detection task."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Segmented property category of every organ segment (SNOMED CT 123037004).
CATEGORY_CODE = "123037004"
CATEGORY_MEANING = "Anatomical Structure"


@dataclass(frozen=True)
class Organ:
    value: int  # label value in the mask and segment number in the SEG
    name: str
    snomed_code: str
    snomed_meaning: str
    category_code: str = CATEGORY_CODE
    category_meaning: str = CATEGORY_MEANING
    # A reference keeps the segment even when empty (a chest without nodules is a finding).
    may_be_absent: bool = False


# SNOMED CT codes: liver 10200004, spleen 78961009, kidney 64033007.
ORGANS: tuple[Organ, ...] = (
    Organ(1, "liver", "10200004", "Liver"),
    Organ(2, "spleen", "78961009", "Spleen"),
    Organ(3, "kidney", "64033007", "Kidney"),
)
# SNOMED CT: nodule 27925004, in category morphologically altered structure 49755003.
NODULE = Organ(
    1, "nodule", "27925004", "Nodule", "49755003", "Morphologically Altered Structure", True
)

LABEL_NAMES: dict[int, str] = {organ.value: organ.name for organ in ORGANS}


def structures_named(label_names: dict[int, str]) -> list[Organ]:
    """The coded structures of a phantom's labels (value → name), in value order."""
    known = {organ.name: organ for organ in (*ORGANS, NODULE)}
    found = []
    for value, name in sorted(label_names.items()):
        organ = known[name]
        found.append(dataclasses.replace(organ, value=value))
    return found
