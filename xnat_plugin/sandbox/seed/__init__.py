"""Synthetic abdominal CT: phantoms, DICOM series, manual SEG references, and project seeding.

numpy + pydicom + highdicom only (no torch, no scipy), deterministic by seed.
"""

from xnat_plugin.sandbox.seed.ct_series import SeriesIdentity, write_ct_series
from xnat_plugin.sandbox.seed.manual_seg import write_manual_seg
from xnat_plugin.sandbox.seed.phantom import Phantom, make_phantom
from xnat_plugin.sandbox.seed.sites import SITES, Site

__all__ = [
    "SITES",
    "Phantom",
    "SeriesIdentity",
    "Site",
    "make_phantom",
    "write_ct_series",
    "write_manual_seg",
]
