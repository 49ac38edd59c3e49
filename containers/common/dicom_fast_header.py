"""A narrow, fast reader for the common case: an uncompressed little-endian single-frame image.

pydicom builds a full `Dataset` per file (≈1 ms for a CT slice); reading a 200-slice series
that way is slower than GDCM. This scanner walks the element headers of one file held in
memory, keeps the handful of values a volume needs, and returns where the pixels are. Anything
it does not expect (another transfer syntax, no preamble, a malformed length) returns None and
the caller falls back to pydicom, so it only ever speeds up, never decides.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_LE = "1.2.840.10008.1.2"
# VRs whose explicit-VR header has 2 reserved bytes and a 4-byte length.
_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010

# tag → (keyword, kind): kinds are "str" (text, UI), "ds" (decimal strings), "us" (uint16).
WANTED: dict[int, tuple[str, str]] = {
    0x00080008: ("ImageType", "str"),
    0x00080016: ("SOPClassUID", "str"),
    0x00080018: ("SOPInstanceUID", "str"),
    0x00080060: ("Modality", "str"),
    0x0020000D: ("StudyInstanceUID", "str"),
    0x0020000E: ("SeriesInstanceUID", "str"),
    0x00200013: ("InstanceNumber", "str"),
    0x00200032: ("ImagePositionPatient", "ds"),
    0x00200037: ("ImageOrientationPatient", "ds"),
    0x00200052: ("FrameOfReferenceUID", "str"),
    0x00180050: ("SliceThickness", "ds"),
    0x00180088: ("SpacingBetweenSlices", "ds"),
    0x00280002: ("SamplesPerPixel", "us"),
    0x00280004: ("PhotometricInterpretation", "str"),
    0x00280008: ("NumberOfFrames", "str"),
    0x00280010: ("Rows", "us"),
    0x00280011: ("Columns", "us"),
    0x00280030: ("PixelSpacing", "ds"),
    0x00280100: ("BitsAllocated", "us"),
    0x00280101: ("BitsStored", "us"),
    0x00280103: ("PixelRepresentation", "us"),
    0x00281052: ("RescaleIntercept", "ds"),
    0x00281053: ("RescaleSlope", "ds"),
}


@dataclass
class FastHeader:
    values: dict[str, object]
    transfer_syntax: str
    pixel_offset: int
    pixel_length: int


class _Unexpected(Exception):
    """The file is outside what this scanner handles; use pydicom."""


def scan_header(data: bytes) -> FastHeader | None:
    """Values of `WANTED` and the pixel data's place in `data`, or None to use pydicom."""
    try:
        return _scan(data)
    except (_Unexpected, struct.error, IndexError, UnicodeDecodeError, ValueError):
        return None


def _scan(data: bytes) -> FastHeader:
    if len(data) < 144 or data[128:132] != b"DICM":
        raise _Unexpected
    pos, meta_end, syntax = 132, None, None
    while True:  # file meta group 0002, always explicit VR little endian
        group, element = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            break
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            (length,) = struct.unpack_from("<I", data, pos + 8)
            value_at = pos + 12
        else:
            (length,) = struct.unpack_from("<H", data, pos + 6)
            value_at = pos + 8
        if element == 0x0000:
            (group_length,) = struct.unpack_from("<I", data, value_at)
            meta_end = value_at + 4 + group_length
        elif element == 0x0010:
            syntax = data[value_at : value_at + length].rstrip(b"\x00 ").decode("ascii")
        pos = value_at + length
    if meta_end is not None and meta_end != pos:
        raise _Unexpected
    if syntax not in (_EXPLICIT_LE, _IMPLICIT_LE):
        raise _Unexpected
    values: dict[str, object] = {}
    offset, length = _walk(data, pos, len(data), syntax == _EXPLICIT_LE, values, top=True)
    return FastHeader(values, syntax, offset, length)


def _walk(
    data: bytes, pos: int, end: int, explicit: bool, values: dict[str, object], *, top: bool
) -> tuple[int, int]:
    """Read elements from `pos` to `end` (or an item delimiter); returns the pixel data place."""
    while pos < end:
        group, element = struct.unpack_from("<HH", data, pos)
        tag = (group << 16) | element
        if tag == _ITEM_END:
            return pos + 8, 0
        if explicit:
            vr = data[pos + 4 : pos + 6]
            if vr in _LONG_VRS:
                (length,) = struct.unpack_from("<I", data, pos + 8)
                value_at = pos + 12
            else:
                (length,) = struct.unpack_from("<H", data, pos + 6)
                value_at = pos + 8
        else:
            vr = b""
            (length,) = struct.unpack_from("<I", data, pos + 4)
            value_at = pos + 8
        if tag == _PIXEL_DATA and top:
            if length == _UNDEFINED or value_at + length > len(data):
                raise _Unexpected
            return value_at, length
        if length == _UNDEFINED:
            if explicit and vr not in (b"SQ", b"UN"):
                raise _Unexpected
            pos = _skip_sequence(data, value_at, explicit)
            continue
        if top and tag in WANTED:
            keyword, kind = WANTED[tag]
            values[keyword] = _convert(data[value_at : value_at + length], kind)
        pos = value_at + length
    if top:
        raise _Unexpected  # no pixel data
    return pos, 0


def _skip_sequence(data: bytes, pos: int, explicit: bool) -> int:
    """Skip an undefined-length sequence starting at its first item; returns the end."""
    while True:
        tag = (struct.unpack_from("<H", data, pos)[0] << 16) | struct.unpack_from(
            "<H", data, pos + 2
        )[0]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        if tag == _SEQUENCE_END:
            return pos + 8
        if tag != _ITEM:
            raise _Unexpected
        if length == _UNDEFINED:
            pos, _ = _walk(data, pos + 8, len(data), explicit, {}, top=False)
        else:
            pos += 8 + length


def _convert(raw: bytes, kind: str) -> object:
    if kind == "us":
        return struct.unpack_from("<H", raw)[0]
    text = raw.decode("latin-1").strip("\x00 ")
    if kind == "ds":
        numbers = [float(part) for part in text.split("\\") if part.strip()]
        # Like pydicom: one value is a number, several are a list.
        return numbers[0] if len(numbers) == 1 else numbers
    return text.split("\\") if "\\" in text else text
