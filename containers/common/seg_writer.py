"""A label map on a DICOM series' grid → one DICOM SEG file (highdicom).

One segment per label with its SNOMED category/type codes; the algorithm identification says
AUTOMATIC plus the model's name and version (or MANUAL), so viewers and the evaluate step can
tell AI and human segmentations apart. Only non-empty frames are stored (an empty label map
gets one empty frame per segment, on one slice, where highdicom would keep every slice).

Speed: highdicom builds the SEG's fixed part (modules, segment descriptions, shared
functional groups) from one empty frame of the series' first header, which skips its
per-source-image checks and per-frame loop; the frames themselves (which ones, their
bit-packed pixels, Per-frame Functional Groups with source references) are then built with
whole-volume numpy operations and encoded directly, exactly as highdicom would write them
given every source image (see `seg_frames`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom.config
from highdicom.spatial import get_volume_positions
from pydicom.charset import convert_encodings, default_encoding
from pydicom.filewriter import correct_ambiguous_vr, correct_ambiguous_vr_element
from pydicom.sr.coding import Code
from pydicom.valuerep import AMBIGUOUS_VR, format_number_as_ds

from containers.common.dicom_series import Series
from containers.common.seg_frames import (
    PER_FRAME_GROUPS,
    REFERENCED_SERIES,
    SOURCE_IMAGES,
    SegFrames,
    binary_frames,
    mask_frames,
    per_frame_groups_element,
    referenced_series_element,
    source_images_element,
)
from containers.common.segment_codes import CodedConcept, SegmentCodes
from containers.common.segment_codes import segment_codes_for as default_segment_codes
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

_AI_FAMILY = Code("123109", "DCM", "Artificial Intelligence")


@dataclass(frozen=True)
class SegAlgorithm:
    """Who made the segmentation: a model (AUTOMATIC) or a person (MANUAL)."""

    kind: str = "AUTOMATIC"  # AUTOMATIC | SEMIAUTOMATIC | MANUAL
    name: str = ""
    version: str = ""


@dataclass(frozen=True)
class WrittenSeg:
    path: Path
    sop_instance_uid: str
    series_instance_uid: str
    segment_numbers: dict[str, int]  # label name → segment number in the SEG
    frames: int


_TABLES_LOCK = threading.Lock()


def load_standard_tables() -> None:
    """Parse the DICOM standard's tables (IODs, modules, attributes) that highdicom reads on its
    first SEG: about half a second of JSON, which a step can spend while it does other work.
    One thread parses, others wait for it (highdicom's cache does not lock). highdicom keeps
    them private; a release that moves them only makes the first SEG pay again."""
    try:
        from highdicom import _standard_utils as standard
    except ImportError:  # pragma: no cover - depends on the highdicom release
        return
    with _TABLES_LOCK:
        for name in ("get_sop_class_iod_map", "get_iod_module_map", "get_module_attribute_map"):
            loader = getattr(standard, name, None)
            if callable(loader):
                loader()


def write_seg(
    path: Path | str,
    label_map: np.ndarray,
    series: Series,
    labels: Mapping[str, int],
    *,
    algorithm: SegAlgorithm = SegAlgorithm(),
    segment_codes: Mapping[str, SegmentCodes] | None = None,
    series_description: str = "MONAI segmentation",
    series_number: int = 900,
    manufacturer: str = "xnat-monai",
    software_version: str = "0.1.0",
    masks: np.ndarray | None = None,
) -> WrittenSeg:
    """Write `label_map` ((columns, rows, slices) like `series.volume`) as a DICOM SEG.

    With `masks` ((segments, columns, rows, slices) booleans, segment k for the label whose
    value is k + 1) the segments are those masks, which may overlap; `label_map` is then unused.
    """
    path = Path(path)
    if masks is not None:
        if tuple(masks.shape[1:]) != series.shape or masks.shape[0] != len(labels):
            raise UserError(
                f"masks of shape {masks.shape} do not fit {len(labels)} label(s) on a series of "
                f"shape {series.shape}"
            )
    elif tuple(label_map.shape) != series.shape:
        raise UserError(
            f"label map shape {label_map.shape} differs from series shape {series.shape}; "
            "resample the segmentation onto the scan first"
        )
    if not labels:
        raise UserError("no labels to write: a SEG needs at least one segment")
    if not all(series.sop_instance_uids):
        raise UserError(
            f"some images of series {series.series_instance_uid} have no SOPInstanceUID: a "
            "DICOM SEG cannot reference them; re-export the scan from the PACS or scanner"
        )
    load_standard_tables()  # waits if another thread is parsing them
    ordered = sorted(labels.items(), key=lambda item: item[1])
    segment_numbers = {name: n for n, (name, _value) in enumerate(ordered, start=1)}
    codes = dict(segment_codes or {})
    descriptions = [
        _segment_description(
            segment_numbers[name], name, codes.get(name) or default_segment_codes(name), algorithm
        )
        for name, _value in ordered
    ]
    if any(not 1 <= value <= 255 for _name, value in ordered):
        raise UserError(
            f"label values {sorted(labels.values())} must lie in 1..255 to be written as a SEG; "
            "renumber the labels in the model's label map"
        )
    if masks is not None:
        ordered_masks = np.stack([masks[value - 1] for _name, value in ordered])
        frames = mask_frames(
            np.ascontiguousarray(np.transpose(ordered_masks, (0, 3, 2, 1)), dtype=bool),
            series.positions,
            series.orientation,
        )
    else:
        volume = np.transpose(label_map, (2, 1, 0))  # (slices, rows, columns); a view if F-ordered
        frames = binary_frames(
            np.ascontiguousarray(volume, dtype=np.uint8),
            [value for _name, value in ordered],
            series.positions,
            series.orientation,
        )

    with values_already_valid():
        seg = _build(
            series,
            frames,
            descriptions,
            algorithm,
            series_description,
            series_number,
            manufacturer,
            software_version,
        )
        _add_frames(seg, series, frames)
        path.parent.mkdir(parents=True, exist_ok=True)
        seg.save_as(path)
    log.info("wrote SEG %s (%d frames, %d segments)", path, seg.NumberOfFrames, len(ordered))
    return WrittenSeg(
        path=path,
        sop_instance_uid=str(seg.SOPInstanceUID),
        series_instance_uid=str(seg.SeriesInstanceUID),
        segment_numbers=segment_numbers,
        frames=int(seg.NumberOfFrames),
    )


@contextmanager
def values_already_valid() -> Iterator[None]:
    """Skip pydicom's per-value regex checks while highdicom builds and we save the SEG.

    The values come from headers pydicom already parsed and from highdicom, which validates
    its own arguments; re-checking each DS/UI of ~200 frames with regexes was over half the
    time of writing a SEG.
    """
    settings = pydicom.config.settings
    saved = (settings.reading_validation_mode, settings.writing_validation_mode)
    settings.reading_validation_mode = settings.writing_validation_mode = pydicom.config.IGNORE
    try:
        yield
    finally:
        settings.reading_validation_mode, settings.writing_validation_mode = saved


def _build(
    series: Series,
    frames: SegFrames,
    descriptions: list[hd.seg.SegmentDescription],
    algorithm: SegAlgorithm,
    series_description: str,
    series_number: int,
    manufacturer: str,
    software_version: str,
) -> hd.seg.Segmentation:
    return hd.seg.Segmentation(
        # One source image and one empty frame: highdicom writes everything but the frames,
        # which `_add_frames` puts in afterwards.
        source_images=[series.first_header],
        pixel_array=np.zeros((1, series.shape[1], series.shape[0]), dtype=np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=manufacturer,
        manufacturer_model_name=algorithm.name or "manual",
        software_versions=software_version,
        device_serial_number="0",
        series_description=series_description,
        content_label="SEGMENTATION",
        content_description=series_description[:64],
        omit_empty_frames=False,  # the one frame is empty on purpose
        plane_orientation=hd.PlaneOrientationSequence(
            coordinate_system="PATIENT", image_orientation=series.orientation
        ),
        pixel_measures=hd.PixelMeasuresSequence(
            pixel_spacing=(series.spacing[1], series.spacing[0]),
            slice_thickness=series.spacing[2],
            spacing_between_slices=series.spacing[2],
        ),
        plane_positions=[
            hd.PlanePositionSequence(
                coordinate_system="PATIENT",
                image_position=tuple(series.positions[frames.stored_slices[0]]),
            )
        ],
    )


def _add_frames(seg: hd.seg.Segmentation, series: Series, frames: SegFrames) -> None:
    """Frames, pixels, per-frame source references, the series' instance list, the slice
    spacing and, for one segment on regularly spaced slices, the 3D dimension organization,
    all as highdicom sets them from every source image."""
    sop_classes = [str(h.SOPClassUID) for h in series.headers]
    seg.NumberOfFrames = len(frames)
    seg.PixelData = frames.pixel_data
    seg[PER_FRAME_GROUPS] = per_frame_groups_element(
        frames, series.positions, sop_classes, series.sop_instance_uids
    )
    seg[REFERENCED_SERIES] = referenced_series_element(
        series.series_instance_uid, sop_classes, series.sop_instance_uids
    )
    seg[SOURCE_IMAGES] = source_images_element(sop_classes, series.sop_instance_uids)
    _set_spacing_between_slices(seg, series)
    if "DimensionOrganizationType" in seg:
        del seg.DimensionOrganizationType
    if len(frames.stored_slices) > 1 and frames.segment_count == 1:
        spacing, _ = get_volume_positions(
            image_positions=series.positions[frames.stored_slices],
            image_orientation=series.orientation,
            sort=False,
        )
        if spacing is not None and spacing > 0.0:
            seg.DimensionOrganizationType = "3D"
    # Resolve ambiguous VRs ("OB or OW" pixel data) of everything but the raw sequences, then
    # declare the dataset already in the encoding it will be written in (explicit VR little
    # endian, its own character set), so pydicom copies the raw sequences instead of parsing
    # them back to redo that check.
    for element in seg.elements():
        if element.tag in (PER_FRAME_GROUPS, REFERENCED_SERIES, SOURCE_IMAGES):
            continue
        if element.VR == "SQ":
            for item in seg[element.tag].value:
                correct_ambiguous_vr(item, True)
        elif element.VR in AMBIGUOUS_VR:
            correct_ambiguous_vr_element(seg[element.tag], seg, True)
    charset = seg.get("SpecificCharacterSet")
    seg.set_original_encoding(
        False, True, convert_encodings(charset) if charset else default_encoding
    )


def _set_spacing_between_slices(seg: hd.seg.Segmentation, series: Series) -> None:
    """The source's SpacingBetweenSlices, else the spacing of all its slice positions (what
    highdicom computes from every source image; from one it would say 1.0)."""
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    if "SpacingBetweenSlices" in series.first_header:
        return
    spacing, _ = get_volume_positions(
        image_positions=series.positions, image_orientation=series.orientation
    )
    if spacing is None:
        measures.pop("SpacingBetweenSlices", None)
    else:
        measures.SpacingBetweenSlices = format_number_as_ds(spacing)


def _segment_description(
    number: int, name: str, codes: SegmentCodes, algorithm: SegAlgorithm
) -> hd.seg.SegmentDescription:
    kind = hd.seg.SegmentAlgorithmTypeValues[algorithm.kind]
    identification = None
    if kind != hd.seg.SegmentAlgorithmTypeValues.MANUAL:
        identification = hd.AlgorithmIdentificationSequence(
            name=algorithm.name or "unknown", version=algorithm.version or "0", family=_AI_FAMILY
        )
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=name,
        segmented_property_category=_code(codes.category),
        segmented_property_type=_code(codes.type),
        algorithm_type=kind,
        algorithm_identification=identification,
        tracking_uid=hd.UID(),
        tracking_id=name,
    )
    if codes.modifier is not None:
        # Laterality (PS3.3 C.8.20.2: a Segmented Property Type Modifier inside the type's item).
        type_item = description.SegmentedPropertyTypeCodeSequence[0]
        type_item.SegmentedPropertyTypeModifierCodeSequence = [
            hd.sr.CodedConcept(codes.modifier.value, codes.modifier.scheme, codes.modifier.meaning)
        ]
    return description


def _code(concept: CodedConcept) -> Code:
    return Code(concept.value, concept.scheme, concept.meaning)
