"""The SEG's Per-Frame Functional Groups, with a source-image reference per frame, as bytes.

A 200-slice SEG has a few thousand small elements in this one sequence; pydicom spends
~30 µs writing each (≈0.1 s, half of writing the SEG). Here the sequence is encoded once,
directly in explicit VR little endian (the transfer syntax highdicom writes for BINARY SEGs),
and handed to pydicom as a raw element, which it copies as is. Each frame item keeps what
highdicom put in it (frame content, plane position, segment identification) and gets the
Derivation Image Sequence that names its source slice (PS3.3 C.7.6.16.2.6).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.tag import Tag
from pydicom.valuerep import format_number_as_ds

PER_FRAME_GROUPS = 0x52009230
REFERENCED_SERIES = 0x00081115
DERIVATION_IMAGE = 0x00089124
SOURCE_IMAGE_PURPOSE = Code("121322", "DCM", "Source image for image processing operation")
SEGMENTATION_DERIVATION = Code("113076", "DCM", "Segmentation")

_ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
_ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
_BINARY_FORMATS = {"US": "H", "UL": "I", "SS": "h", "SL": "l", "FL": "f", "FD": "d"}


def per_frame_groups_element(
    frames: Sequence[Dataset],
    source_slices: Sequence[int],
    sop_classes: Sequence[str],
    sop_instances: Sequence[str],
) -> RawDataElement:
    """The whole (5200,9230) element: frame i references slice `source_slices[i]`."""
    derivation_code = _code_item(SEGMENTATION_DERIVATION)
    purpose = _sequence(0x0040A170, [_code_item(SOURCE_IMAGE_PURPOSE)])
    items = []
    for frame, k in zip(frames, source_slices, strict=True):
        source = (
            _text(0x00081150, "UI", sop_classes[k])
            + _text(0x00081155, "UI", sop_instances[k])
            + _text(0x0028135A, "CS", "YES")
            + purpose
        )
        derivation = _sequence(0x00082112, [source]) + _sequence(0x00089215, [derivation_code])
        body = [_sequence(DERIVATION_IMAGE, [derivation])]
        body.extend(encode_element(e) for e in frame if e.tag != DERIVATION_IMAGE)
        items.append(b"".join(body))
    value = b"".join(_ITEM + item + _ITEM_END for item in items)
    return RawDataElement(Tag(PER_FRAME_GROUPS), "SQ", len(value), value, 0, False, True)


def referenced_series_element(
    series_uid: str, sop_classes: Sequence[str], sop_instances: Sequence[str]
) -> RawDataElement:
    """(0008,1115) listing every instance of the source series."""
    instances = [
        _text(0x00081150, "UI", sop_class) + _text(0x00081155, "UI", sop_instance)
        for sop_class, sop_instance in zip(sop_classes, sop_instances, strict=True)
    ]
    item = _sequence(0x0008114A, instances) + _text(0x0020000E, "UI", series_uid)
    value = _ITEM + item + _ITEM_END
    return RawDataElement(Tag(REFERENCED_SERIES), "SQ", len(value), value, 0, False, True)


def encode_element(element: object) -> bytes:
    """One element of a highdicom-built dataset, explicit VR little endian."""
    tag, vr, value = element.tag, element.VR, element.value  # type: ignore[attr-defined]
    if vr == "SQ":
        return _sequence(tag, [b"".join(encode_element(e) for e in item) for item in value])
    values = [value] if isinstance(value, str | bytes | int | float) else list(value)
    if vr in _BINARY_FORMATS:
        raw = struct.pack(f"<{len(values)}{_BINARY_FORMATS[vr]}", *values)
        return _header(tag, vr, len(raw)) + raw
    if vr == "DS":
        return _text(tag, vr, "\\".join(_ds(v) for v in values))
    return _text(tag, vr, "\\".join(str(v) for v in values))


def _ds(value: object) -> str:
    text = str(value)
    return text if len(text) <= 16 else format_number_as_ds(float(value))  # type: ignore[arg-type]


def _code_item(code: Code) -> bytes:
    return (
        _text(0x00080100, "SH", code.value)
        + _text(0x00080102, "SH", code.scheme_designator)
        + _text(0x00080104, "LO", code.meaning)
    )


def _text(tag: int, vr: str, text: str) -> bytes:
    raw = text.encode("ascii")
    if len(raw) % 2:
        raw += b"\x00" if vr == "UI" else b" "
    return _header(tag, vr, len(raw)) + raw


def _sequence(tag: int, items: Iterable[bytes]) -> bytes:
    value = b"".join(_ITEM + item + _ITEM_END for item in items)
    return _header(tag, "SQ", len(value)) + value


def _header(tag: int, vr: str, length: int) -> bytes:
    group, element = tag >> 16, tag & 0xFFFF
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", group, element, vr.encode(), 0, length)
    return struct.pack("<HH2sH", group, element, vr.encode(), length)
