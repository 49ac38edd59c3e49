"""A QC montage: the segmentation over the image on axial, coronal and sagittal planes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6"]


def write_qc_montage(
    path: Path,
    volume: np.ndarray,
    label_map: np.ndarray,
    spacing: tuple[float, float, float],
    labels: Mapping[str, int],
    *,
    window: tuple[float, float] = (-160.0, 240.0),
    title: str = "",
) -> Path:
    """PNG with three panels through the centre of the segmentation (or of the volume)."""
    centre = _centre(label_map)
    colours = ListedColormap(["none"] + [_COLOURS[i % len(_COLOURS)] for i in range(255)])
    planes = [
        ("axial", volume[:, :, centre[2]].T, label_map[:, :, centre[2]].T, spacing[1] / spacing[0]),
        (
            "coronal",
            volume[:, centre[1], :].T,
            label_map[:, centre[1], :].T,
            spacing[2] / spacing[0],
        ),
        (
            "sagittal",
            volume[centre[0], :, :].T,
            label_map[centre[0], :, :].T,
            spacing[2] / spacing[1],
        ),
    ]
    figure, axes = plt.subplots(1, 3, figsize=(12, 4.4), dpi=100)
    for axis, (name, image, labels_2d, aspect) in zip(axes, planes, strict=True):
        # Voxel (i, j) is (column, row); show rows top-down, and k (superior) upwards.
        origin = "upper" if name == "axial" else "lower"
        axis.imshow(
            image, cmap="gray", vmin=window[0], vmax=window[1], aspect=aspect, origin=origin
        )
        masked = np.ma.masked_equal(labels_2d, 0)
        axis.imshow(
            masked,
            cmap=colours,
            vmin=0,
            vmax=255,
            alpha=0.45,
            aspect=aspect,
            origin=origin,
            interpolation="nearest",
        )
        axis.set_title(name)
        axis.axis("off")
    handles = [
        Patch(color=_COLOURS[(value - 1) % len(_COLOURS)], label=name)
        for name, value in sorted(labels.items(), key=lambda item: item[1])
    ]
    figure.legend(handles=handles, loc="lower center", ncol=max(1, len(handles)))
    if title:
        figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def _centre(label_map: np.ndarray) -> tuple[int, int, int]:
    coordinates = np.nonzero(label_map[::2, ::2, :])
    if len(coordinates[0]) == 0:
        return (label_map.shape[0] // 2, label_map.shape[1] // 2, label_map.shape[2] // 2)
    return (
        int(np.median(coordinates[0])) * 2,
        int(np.median(coordinates[1])) * 2,
        int(np.median(coordinates[2])),
    )
