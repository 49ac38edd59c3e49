"""A PNG of the slices where AI and reference disagree most, overlaid on the image.

Up to three axial slices with the most voxels labelled differently; missed reference voxels
(false negatives) in blue, extra predicted voxels (false positives) in orange, agreement in
a faint green, on the image windowed for soft tissue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FALSE_NEGATIVE = (0.15, 0.45, 1.0, 0.75)
FALSE_POSITIVE = (1.0, 0.55, 0.0, 0.75)
AGREEMENT = (0.2, 0.9, 0.3, 0.25)
SOFT_TISSUE_WINDOW = (-160.0, 240.0)  # HU: level 40, width 400


def slices_of_largest_disagreement(
    reference: np.ndarray, prediction: np.ndarray, count: int = 3
) -> list[int]:
    per_slice = np.count_nonzero(reference != prediction, axis=(0, 1))
    order = [int(k) for k in np.argsort(per_slice)[::-1] if per_slice[k] > 0]
    return sorted(order[:count])


def write_disagreement_png(
    path: Path,
    image: np.ndarray,
    reference: np.ndarray,
    prediction: np.ndarray,
    title: str,
) -> list[int]:
    """Draw the PNG; returns the slice indices shown (the middle slice when all agree)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = slices_of_largest_disagreement(reference, prediction) or [image.shape[2] // 2]
    figure, axes = plt.subplots(1, len(chosen), figsize=(4.2 * len(chosen), 4.6), squeeze=False)
    low, high = SOFT_TISSUE_WINDOW
    for axis, k in zip(axes[0], chosen, strict=True):
        ref, pred = reference[:, :, k].T, prediction[:, :, k].T
        overlay = np.zeros((*ref.shape, 4))
        overlay[(ref > 0) & (ref == pred)] = AGREEMENT
        overlay[(ref > 0) & (ref != pred)] = FALSE_NEGATIVE
        overlay[(pred > 0) & (ref != pred)] = FALSE_POSITIVE
        axis.imshow(np.clip(image[:, :, k].T, low, high), cmap="gray", vmin=low, vmax=high)
        axis.imshow(overlay, interpolation="nearest")
        differing = int(np.count_nonzero(ref != pred))
        axis.set_title(f"slice {k}: {differing} voxels differ", fontsize=9)
        axis.axis("off")
    figure.suptitle(f"{title}\nblue: missed (FN), orange: extra (FP), green: agreement", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return chosen
