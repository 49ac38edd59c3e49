"""The phantom's reference labels as a DICOM SEG on its CT series (algorithm type MANUAL).

One segment per structure present, coded with SNOMED CT (organs: category 123037004, type liver
10200004, spleen 78961009, kidney 64033007; lung nodules: category 49755003, type 27925004), so
readers can match segments by code or by label.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from xnat_plugin import __version__
from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.seed.organs import structures_named
from xnat_plugin.sandbox.seed.phantom import Phantom

SEG_SERIES_NUMBER = 300


def write_manual_seg(
    phantom: Phantom,
    ct_files: Sequence[Path],
    out_path: Path,
    *,
    reader_name: str = "Reader^Synthetic",
) -> hd.seg.Segmentation:
    """Write `phantom.labels` as a SEG referencing the CT files of its series; returns it.

    The CT files may come in any order: they are matched to the label volume by position.
    """
    sources = [pydicom.dcmread(path) for path in ct_files]
    if len(sources) != phantom.shape[0]:
        raise UserError(
            f"the CT series has {len(sources)} files but the phantom {phantom.shape[0]} slices: "
            "pass the files written by write_ct_series for this phantom"
        )
    # The label volume runs feet → head; put the sources in the same order.
    sources.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    structures = structures_named(phantom.label_names)
    present = [s for s in structures if s.may_be_absent or np.any(phantom.labels == s.value)]
    if not present:
        raise UserError(f"phantom of seed {phantom.seed} has no labelled organ: nothing to save")
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=organ.name,
            segmented_property_category=Code(organ.category_code, "SCT", organ.category_meaning),
            segmented_property_type=Code(organ.snomed_code, "SCT", organ.snomed_meaning),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for number, organ in enumerate(present, start=1)
    ]
    # Segment numbers run 1..n over the organs present; relabel the mask to match.
    relabel = np.zeros(256, dtype=np.uint8)
    for number, organ in enumerate(present, start=1):
        relabel[organ.value] = number
    mask = relabel[phantom.labels]
    series_uid = sources[0].SeriesInstanceUID
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=mask,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(entropy_srcs=[series_uid, "manual-seg-series"]),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=generate_uid(entropy_srcs=[series_uid, "manual-seg"]),
        instance_number=1,
        manufacturer="xnat-monai",
        manufacturer_model_name="synthetic reference",
        software_versions=__version__,
        device_serial_number="0",
        content_label="MANUAL",
        content_description="Reference segmentation (synthetic)",
        content_creator_name=reader_name,
    )
    seg.SeriesDescription = "Manual segmentation"
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(out_path)
    return seg
