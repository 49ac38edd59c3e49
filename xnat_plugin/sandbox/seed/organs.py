"""The labelled organs of the synthetic data, with the codes their DICOM SEG segments carry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Organ:
    value: int  # label value in the mask and segment number in the SEG
    name: str
    snomed_code: str
    snomed_meaning: str


# SNOMED CT codes: liver 10200004, spleen 78961009, kidney 64033007.
ORGANS: tuple[Organ, ...] = (
    Organ(1, "liver", "10200004", "Liver"),
    Organ(2, "spleen", "78961009", "Spleen"),
    Organ(3, "kidney", "64033007", "Kidney"),
)
# Segmented property category of every segment (SNOMED CT 123037004).
CATEGORY_CODE = "123037004"
CATEGORY_MEANING = "Anatomical Structure"

LABEL_NAMES: dict[int, str] = {organ.value: organ.name for organ in ORGANS}
