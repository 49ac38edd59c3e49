"""The boxes picture: which slices it shows and where the outlines land, pixel for pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from containers.common.box_picture import (
    CAPTION_PX,
    FINDING,
    FOUND,
    MISSED,
    DrawnBox,
    chosen_slices,
    write_box_picture,
)
from containers.common.lesions import ScanFrame

SHAPE = (32, 24, 10)
SPACING = (0.8, 0.8, 2.5)


def _frame() -> ScanFrame:
    affine = np.diag([*SPACING, 1.0])
    return ScanFrame(affine, SPACING, SHAPE)


def test_slices_through_each_box_centre_once_in_order():
    frame = _frame()
    boxes = [
        DrawnBox(frame.voxel_box_mm((2, 2, 3), (6, 6, 6)), FOUND),  # k 3..5: centre 4
        DrawnBox(frame.voxel_box_mm((10, 2, 4), (12, 4, 5)), FINDING),  # k 4
        DrawnBox(frame.voxel_box_mm((10, 2, 8), (12, 4, 10)), FINDING),  # k 8..9: centre 8.5 → 8
    ]
    assert chosen_slices(frame, boxes) == [4, 8]
    assert chosen_slices(frame, boxes, limit=1) == [4]
    assert chosen_slices(frame, []) == [5]


def test_outlines_land_on_the_voxel_edges(tmp_path: Path):
    frame = _frame()
    volume = np.full(SHAPE, -2000.0, np.float32)  # black under the lung window
    lesion = frame.voxel_box_mm((2, 3, 3), (6, 8, 6))  # i 2..5, j 3..7, k 3..5
    missed = frame.voxel_box_mm((20, 10, 4), (23, 13, 5))  # k 4 only
    finding = frame.voxel_box_mm((2, 3, 8), (5, 6, 9))  # k 8 only
    shown = write_box_picture(
        tmp_path / "boxes.png",
        volume,
        frame,
        [(lesion, True), (missed, False)],
        [(finding, 0.87)],
        title="s1",
    )
    assert shown == [4, 8]
    picture = np.asarray(Image.open(tmp_path / "boxes.png").convert("RGB"))
    scale = 256 // 32  # 8 px per voxel
    top = 2 * CAPTION_PX
    panel = picture[top : top + 24 * scale, : 32 * scale]
    # Slice 4: the found lesion's outline from voxel edge i=2 to i=6, j=3 to j=8.
    assert tuple(panel[3 * scale, 2 * scale + 10]) == FOUND  # top edge
    assert tuple(panel[8 * scale - 1, 4 * scale]) == FOUND  # bottom edge
    assert tuple(panel[5 * scale, 2 * scale]) == FOUND  # left edge
    assert tuple(panel[5 * scale, 4 * scale]) == (0, 0, 0)  # inside: the image
    assert tuple(panel[10 * scale, 21 * scale]) == MISSED
    # The finding lies on slice 8 only: not drawn on slice 4.
    assert not (panel == np.array(FINDING)).all(axis=2).any()
    second = picture[top : top + 24 * scale, 32 * scale + 4 : 64 * scale + 4]
    assert tuple(second[3 * scale - 1, 3 * scale]) == FINDING  # just outside the top edge
    assert tuple(second[3 * scale + scale // 2, 3 * scale]) == (0, 0, 0)
    assert not (second == np.array(FOUND)).all(axis=2).any()  # the lesion ends at slice 5
