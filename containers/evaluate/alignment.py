"""Put a prediction on the reference's voxel grid, or refuse with the reason.

Same shape and affine (to 1e-3 mm): used as is. Same physical space on another grid: the
prediction is resampled onto the reference grid by nearest neighbour (labels must not be
interpolated). Grids that share too little space (< half of the reference field of view),
or a different number of axes: refused.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

from containers.evaluate.label_sources import GriddedLabels
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

AFFINE_TOLERANCE_MM = 1e-3
MIN_SHARED_FIELD_OF_VIEW = 0.5


def same_grid(a: GriddedLabels, b: GriddedLabels) -> bool:
    return a.array.shape == b.array.shape and np.allclose(
        a.affine, b.affine, atol=AFFINE_TOLERANCE_MM
    )


def _corners(shape: tuple[int, ...]) -> np.ndarray:
    return np.array(np.meshgrid(*[[0, n - 1] for n in shape], indexing="ij")).reshape(3, -1)


def align_to_reference(reference: GriddedLabels, prediction: GriddedLabels) -> np.ndarray:
    """The prediction's labels on the reference grid (see module docstring)."""
    if (
        reference.series_instance_uid
        and prediction.series_instance_uid
        and (reference.series_instance_uid != prediction.series_instance_uid)
    ):
        raise UserError(
            f"reference {reference.source} segments series {reference.series_instance_uid} but "
            f"prediction {prediction.source} segments {prediction.series_instance_uid}: compare "
            "segmentations of the same scan"
        )
    if same_grid(reference, prediction):
        return prediction.array
    if reference.array.ndim != 3 or prediction.array.ndim != 3:
        raise UserError("reference and prediction must both be 3-D label maps")
    # reference voxel → world → prediction voxel
    to_prediction = np.linalg.inv(prediction.affine) @ reference.affine
    corners = to_prediction[:3, :3] @ _corners(reference.array.shape) + to_prediction[:3, 3:]
    low = np.maximum(corners.min(axis=1), -0.5)
    high = np.minimum(corners.max(axis=1), np.asarray(prediction.array.shape) - 0.5)
    shared = np.prod(np.clip(high - low, 0, None)) / np.prod(np.ptp(corners, axis=1).clip(min=1.0))
    if shared < MIN_SHARED_FIELD_OF_VIEW:
        raise UserError(
            f"prediction {prediction.source} covers {shared:.0%} of the reference's field of "
            f"view ({reference.source}): they are not segmentations of the same image"
        )
    log.warning(
        "prediction grid %s differs from reference grid %s: resampling by nearest neighbour",
        prediction.array.shape,
        reference.array.shape,
    )
    return ndimage.affine_transform(
        prediction.array,
        to_prediction[:3, :3],
        offset=to_prediction[:3, 3],
        output_shape=reference.array.shape,
        order=0,
        mode="constant",
        cval=0,
    )
