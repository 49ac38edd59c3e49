"""A picture of boxes on a scan: the slices through each lesion and finding, boxes outlined.

One panel per slice (at most `MAX_PANELS`): the slice through the centre of each reference
lesion, then of each reported finding by descending score, each slice once. On every panel,
every box that covers the slice (its voxel range along the slice axis holds it) is outlined over
the windowed image: reference lesions found in green, missed in blue, findings in orange with
their score (just outside the voxels' edges, so a lesion it matches shows too). Boxes are in the scan frame (`containers.common.lesions.ScanFrame`), so a panel is
the series' own slice and the outline its voxels' edges, on oblique series too. Pillow and
numpy only: no plotting state, fast enough for every session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from containers.common.lesions import ScanFrame

FOUND = (60, 180, 75)
MISSED = (67, 99, 216)
FINDING = (245, 130, 49)
MAX_PANELS = 6
PANEL_PX = 256  # each panel is scaled by a whole factor to at least about this size
CAPTION_PX = 18
LEGEND_PX = 400  # the narrowest canvas: room for the legend line
LUNG_WINDOW = (-1350.0, 150.0)  # HU: level -600, width 1500


@dataclass(frozen=True)
class DrawnBox:
    box_mm: Sequence[float]
    colour: tuple[int, int, int]
    text: str = ""
    outset: bool = False  # drawn just outside the voxels' edges, so a lesion's outline shows too


def centre_slice(frame: ScanFrame, box_mm: Sequence[float]) -> int:
    centre_k = (box_mm[2] + box_mm[5]) / 2 / frame.spacing[2]
    return int(np.clip(round(centre_k), 0, frame.shape[2] - 1))


def chosen_slices(
    frame: ScanFrame, boxes: Sequence[DrawnBox], limit: int = MAX_PANELS
) -> list[int]:
    """The slices through the boxes' centres, in the boxes' order, each once, at most `limit`."""
    slices: list[int] = []
    for drawn in boxes:
        k = centre_slice(frame, drawn.box_mm)
        if k not in slices:
            slices.append(k)
        if len(slices) == limit:
            break
    return slices or [frame.shape[2] // 2]


def panel(volume: np.ndarray, frame: ScanFrame, k: int, boxes: Sequence[DrawnBox],
          window: tuple[float, float], scale: int) -> Image.Image:  # fmt: skip
    """Slice `k` (rows: j, columns: i) scaled by `scale`, with the boxes covering it outlined."""
    low, high = window
    grey = np.clip((volume[:, :, k].T.astype(np.float32) - low) * (255.0 / (high - low)), 0, 255)
    image = Image.fromarray(np.rint(grey).astype(np.uint8), mode="L").convert("RGB")
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for drawn in boxes:
        i_range, j_range, k_range = frame.covered_voxels(np.asarray(drawn.box_mm, float))
        if not k_range.start <= k < k_range.stop or i_range.stop <= i_range.start:
            continue
        if j_range.stop <= j_range.start:
            continue
        width = max(1, scale // 2)
        grow = width if drawn.outset else 0
        corners = (
            i_range.start * scale - grow,
            j_range.start * scale - grow,
            i_range.stop * scale - 1 + grow,
            j_range.stop * scale - 1 + grow,
        )
        draw.rectangle(corners, outline=drawn.colour, width=width)
        if drawn.text:
            draw.text(
                (corners[0], max(0, corners[1] - 11)), drawn.text, fill=drawn.colour, font=font
            )
    return image


def write_box_picture(
    path: Path,
    volume: np.ndarray,
    frame: ScanFrame,
    lesions: Sequence[tuple[Sequence[float], bool]],
    findings: Sequence[tuple[Sequence[float], float]],
    *,
    window: tuple[float, float] = LUNG_WINDOW,
    title: str = "",
) -> list[int]:
    """Write the PNG of reference `lesions` (box, found) and reported `findings` (box, score);
    returns the slices shown."""
    drawn = [DrawnBox(box, FOUND if found else MISSED) for box, found in lesions]
    ranked = sorted(findings, key=lambda item: -item[1])
    drawn += [DrawnBox(box, FINDING, f"{score:.2f}", outset=True) for box, score in ranked]
    slices = chosen_slices(frame, drawn)
    scale = max(1, PANEL_PX // max(volume.shape[0], volume.shape[1]))
    panels = [panel(volume, frame, k, drawn, window, scale) for k in slices]
    legend = "green: lesion found, blue: missed, orange: finding (score)"
    font = ImageFont.load_default()
    top = 2 * CAPTION_PX
    width = max(sum(p.width for p in panels) + 4 * (len(panels) - 1), LEGEND_PX)
    height = top + max(p.height for p in panels) + CAPTION_PX
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 3), title, fill="black", font=font)
    draw.text((4, CAPTION_PX + 3), legend, fill="black", font=font)
    x = 0
    for k, image in zip(slices, panels, strict=True):
        canvas.paste(image, (x, top))
        draw.text((x + 4, top + image.height + 3), f"slice {k}", fill="black", font=font)
        x += image.width + 4
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG", compress_level=1)
    return slices
