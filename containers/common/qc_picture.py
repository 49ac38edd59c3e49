"""A QC montage: the segmentation over the image on axial, coronal and sagittal planes.

Drawn with Pillow from the voxels themselves: each plane is windowed to grey, the labels are
blended over it in their colours, and the panel is scaled to its physical aspect (mm, not
voxels). Runs in a few tens of milliseconds and holds no global plotting state, so it is safe
in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6"]
_ALPHA = 0.45
_PANEL = 360  # px: each plane fits a square of this size
_MARGIN = 24
_TITLE_HEIGHT = 44
_CAPTION_HEIGHT = 28
_LEGEND_HEIGHT = 44


DEFAULT_WINDOW = (-160.0, 240.0)  # HU: soft-tissue abdomen


def grey_levels(volume: np.ndarray, window: tuple[float, float] = DEFAULT_WINDOW) -> np.ndarray:
    """uint8 grey levels of `volume` under `window` (same shape and memory order): all the QC
    picture needs of a scan, in a quarter of the float32 volume's memory."""
    low, high = window
    tensor = torch.from_numpy(volume).to(torch.float32)
    grey = tensor.sub(low).mul_(255.0 / (high - low)).clamp_(0.0, 255.0).add_(0.5)
    return grey.to(torch.uint8).numpy()


def label_colour(value: int) -> tuple[int, int, int]:
    """The RGB colour label `value` (≥ 1) is drawn in."""
    code = _COLOURS[(value - 1) % len(_COLOURS)]
    return (int(code[1:3], 16), int(code[3:5], 16), int(code[5:7], 16))


def write_qc_montage(
    path: Path,
    volume: np.ndarray,
    label_map: np.ndarray,
    spacing: tuple[float, float, float],
    labels: Mapping[str, int],
    *,
    window: tuple[float, float] = DEFAULT_WINDOW,
    title: str = "",
) -> Path:
    """PNG with three panels through the centre of the segmentation (or of the volume).

    `volume` is the scan in its own units, windowed here by `window`, or the uint8 grey levels
    `grey_levels` made of it.
    """
    ci, cj, ck = _centre(label_map)

    def grey(plane: np.ndarray) -> np.ndarray:  # windows the three planes, not the scan
        return plane if plane.dtype == np.uint8 else grey_levels(plane, window)

    # (name, grey plane, label plane, row spacing, column spacing); rows run top-down, and
    # for coronal and sagittal planes the superior end (high k) is at the top.
    planes = [
        ("axial", grey(volume[:, :, ck].T), label_map[:, :, ck].T, spacing[1], spacing[0]),
        (
            "coronal",
            grey(volume[:, cj, :].T)[::-1],
            label_map[:, cj, :].T[::-1],
            spacing[2],
            spacing[0],
        ),
        (
            "sagittal",
            grey(volume[ci, :, :].T)[::-1],
            label_map[ci, :, :].T[::-1],
            spacing[2],
            spacing[1],
        ),
    ]
    font = ImageFont.load_default(size=16)
    small = ImageFont.load_default(size=14)
    width = 3 * _PANEL + 4 * _MARGIN
    height = _TITLE_HEIGHT + _CAPTION_HEIGHT + _PANEL + _LEGEND_HEIGHT + _MARGIN
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((width / 2, _TITLE_HEIGHT / 2), title, fill="black", font=font, anchor="mm")
    lut = _colour_table()
    for index, (name, plane, overlay, row_mm, column_mm) in enumerate(planes):
        panel = _blend(plane, overlay, lut)
        size = _fit(plane.shape, row_mm, column_mm)
        image = Image.fromarray(panel).resize(size, Image.Resampling.BILINEAR)
        left = _MARGIN + index * (_PANEL + _MARGIN)
        top = _TITLE_HEIGHT + _CAPTION_HEIGHT
        canvas.paste(image, (left + (_PANEL - size[0]) // 2, top + (_PANEL - size[1]) // 2))
        draw.text((left + _PANEL / 2, top - 6), name, fill="black", font=font, anchor="ms")
    _legend(draw, labels, width, height - _LEGEND_HEIGHT, small)
    path.parent.mkdir(parents=True, exist_ok=True)
    # zlib level 1: a third of the default's encoding time for a few % more bytes.
    canvas.save(path, format="PNG", compress_level=1)
    return path


def _colour_table() -> np.ndarray:
    table = np.zeros((256, 3), dtype=np.float32)
    for value in range(1, 256):
        table[value] = label_colour(value)
    return table


def _blend(grey: np.ndarray, overlay: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """uint8 RGB: the grey plane with each labelled pixel tinted in its label's colour."""
    rgb = np.repeat(grey.astype(np.float32)[:, :, None], 3, axis=2)
    labelled = overlay > 0
    rgb[labelled] = (1 - _ALPHA) * rgb[labelled] + _ALPHA * lut[overlay[labelled]]
    return np.rint(rgb).astype(np.uint8)


def _fit(shape: tuple[int, ...], row_mm: float, column_mm: float) -> tuple[int, int]:
    """(width, height) in px that keeps the plane's physical aspect within the panel square."""
    rows_mm, columns_mm = shape[0] * row_mm, shape[1] * column_mm
    scale = _PANEL / max(rows_mm, columns_mm)
    return (max(1, round(columns_mm * scale)), max(1, round(rows_mm * scale)))


def _legend(
    draw: ImageDraw.ImageDraw,
    labels: Mapping[str, int],
    width: int,
    top: int,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    entries = sorted(labels.items(), key=lambda item: item[1])
    swatch, gap = 22, 28
    widths = [swatch + 8 + draw.textlength(name, font=font) for name, _value in entries]
    x = (width - (sum(widths) + gap * max(0, len(entries) - 1))) / 2
    y = top + _LEGEND_HEIGHT / 2
    for (name, value), entry_width in zip(entries, widths, strict=True):
        draw.rectangle((x, y - 7, x + swatch, y + 7), fill=label_colour(value))
        draw.text((x + swatch + 8, y), name, fill="black", font=font, anchor="lm")
        x += entry_width + gap


def _centre(label_map: np.ndarray) -> tuple[int, int, int]:
    """The (lower) median labelled voxel along each axis, the volume's centre if none: a plane
    through it holds labels even when the organs lie apart."""
    labelled = label_map != 0
    total = int(np.count_nonzero(labelled))
    if total == 0:
        return (label_map.shape[0] // 2, label_map.shape[1] // 2, label_map.shape[2] // 2)
    centre = []
    for axis in range(3):
        # Labelled voxels per plane along `axis`: the median is where half of them are passed.
        others = tuple(a for a in range(3) if a != axis)
        per_plane = np.cumsum(labelled.sum(axis=others))
        centre.append(int(np.searchsorted(per_plane, (total + 1) // 2)))
    return (centre[0], centre[1], centre[2])
