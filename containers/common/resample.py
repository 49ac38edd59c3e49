"""Between a scan's grid and a model's grid: reorient (axis flips/permutes) and resample.

Like MONAI's `Orientation` + `Spacing`: the volume is brought to the closest orientation to the
model's axis codes (no interpolation, so oblique scans stay oblique), then resampled to the
model's voxel spacing with corner voxel centres kept in place. `GridMapping` remembers both
steps so a prediction goes back to the scan's grid exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import nibabel.orientations as nio
import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class GridMapping:
    """How the scan's grid (original) relates to the model's grid (resampled)."""

    original_shape: tuple[int, int, int]
    ornt: np.ndarray  # nibabel orientation transform, original → reoriented axes
    reoriented_shape: tuple[int, int, int]
    model_shape: tuple[int, int, int]
    model_affine: np.ndarray  # voxel → RAS of the model grid

    @property
    def needs_resampling(self) -> bool:
        return self.model_shape != self.reoriented_shape


def plan_grid(
    shape: tuple[int, int, int],
    affine: np.ndarray,
    spacing: tuple[float, float, float],
    axcodes: str = "RAS",
) -> GridMapping:
    """The model grid for a volume of `shape`/`affine` at `spacing` mm in `axcodes` orientation."""
    current = nio.io_orientation(affine)
    wanted = nio.axcodes2ornt(tuple(axcodes))
    ornt = nio.ornt_transform(current, wanted)
    # Input axis i becomes output axis ornt[i, 0].
    reoriented = [0, 0, 0]
    for axis, (new_axis, _flip) in enumerate(ornt):
        reoriented[int(new_axis)] = int(shape[axis])
    reoriented_shape = (reoriented[0], reoriented[1], reoriented[2])
    # inv_ornt_aff maps reoriented voxel indices back to original ones.
    reoriented_affine = affine @ nio.inv_ornt_aff(ornt, shape)
    old_spacing = np.linalg.norm(reoriented_affine[:3, :3], axis=0)
    extent = (np.asarray(reoriented_shape) - 1) * old_spacing
    model_shape = tuple(
        int(max(1, round(e / s) + 1)) if n > 1 else 1
        for e, s, n in zip(extent, spacing, reoriented_shape, strict=True)
    )
    scale = np.ones(3)
    for axis in range(3):
        if model_shape[axis] > 1:
            scale[axis] = (reoriented_shape[axis] - 1) / (model_shape[axis] - 1)
    model_affine = reoriented_affine.copy()
    model_affine[:3, :3] = reoriented_affine[:3, :3] * scale
    return GridMapping(
        original_shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        ornt=ornt,
        reoriented_shape=reoriented_shape,
        model_shape=model_shape,  # type: ignore[arg-type]
        model_affine=model_affine,
    )


def to_model_grid(volume: np.ndarray, mapping: GridMapping) -> torch.Tensor:
    """float32 tensor (1, 1, *model_shape): reoriented, then resampled trilinearly.

    Corner-aligned trilinear resampling commutes with axis flips and permutations, so the
    scan is resampled in its own axis order (read in place, whatever its memory layout) and
    only the smaller result is reoriented.
    """
    on_model_grid = _resample_on_scan_axes(volume, mapping) if mapping.needs_resampling else volume
    reoriented = nio.apply_orientation(on_model_grid, mapping.ornt)
    return torch.from_numpy(np.ascontiguousarray(reoriented, dtype=np.float32))[None, None]


def _resample_on_scan_axes(volume: np.ndarray, mapping: GridMapping) -> np.ndarray:
    """`volume` trilinearly resampled to the model grid's size, still on the scan's axes."""
    # The model grid's size along each of the scan's own axes.
    size = tuple(mapping.model_shape[int(new_axis)] for new_axis, _flip in mapping.ornt)
    source = volume.astype(np.float32, copy=False)
    order = (0, 1, 2)
    if not source.flags.c_contiguous:
        if source.flags.f_contiguous:  # DICOM stacks are Fortran-ordered: read them reversed
            source, order = source.T, (2, 1, 0)
        else:
            source = np.ascontiguousarray(source)
    resampled = F.interpolate(
        torch.from_numpy(source)[None, None],
        size=tuple(size[axis] for axis in order),
        mode="trilinear",
        align_corners=True,
    )[0, 0].numpy()
    return resampled.transpose(order)  # (2, 1, 0) is its own inverse


def labels_to_original_grid(
    margins: torch.Tensor, mapping: GridMapping, *, mode: str = "linear"
) -> np.ndarray:
    """uint8 label map on the original grid from (classes − 1, *model_shape) margins: each
    label's logit minus the background's. A voxel is background where no margin is positive,
    else the label with the largest margin (the argmax of the logits).

    `linear` interpolates each margin to full size and keeps a running maximum, one channel
    at a time, so memory stays at about two full-size float volumes whatever the number of
    classes (resampling is linear: the same labels as resampling the logits themselves, as
    nnU-Net does). `nearest` takes the labels on the model grid and picks nearest voxels.
    """
    if mode == "nearest" or not mapping.needs_resampling:
        channels = (margins[c] for c in range(margins.shape[0]))
        labels = _labels_from_margins(channels, owned=False)[None, None]
        if mapping.needs_resampling:
            labels = _nearest(labels, mapping.reoriented_shape)
        return _undo_orientation(labels[0, 0].numpy(), mapping)
    upsampled = (
        F.interpolate(
            margins[c][None, None],  # in the margins' own precision (float16 from the step)
            size=mapping.reoriented_shape,
            mode="trilinear",
            align_corners=True,
        )[0, 0]
        for c in range(margins.shape[0])
    )
    return _undo_orientation(_labels_from_margins(upsampled, owned=True).numpy(), mapping)


def _labels_from_margins(margins: Iterator[torch.Tensor], *, owned: bool) -> torch.Tensor:
    """uint8: 0 where no margin is positive, else 1 + the index of the largest (the first on
    ties, as argmax). Elementwise passes, channel by channel: torch.argmax over a leading axis
    is a slow strided reduction. `owned`: the tensors are temporaries this may overwrite."""
    best = torch.empty(0)
    labels = torch.empty(0, dtype=torch.uint8)
    for channel, values in enumerate(margins, start=1):
        if channel == 1:
            labels = (values > 0).to(torch.uint8)  # the background's margin is 0
            best = values.clamp_(min=0) if owned else values.clamp(min=0)
            continue
        better = values > best
        torch.maximum(best, values, out=best)
        labels.masked_fill_(better, channel)
        del values, better
    return labels


def _nearest(labels: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """Nearest-neighbour with corner-aligned centres (F.interpolate's nearest is not)."""
    axes = [
        torch.round(torch.linspace(0, n_in - 1, n_out)).long()
        for n_in, n_out in zip(labels.shape[2:], size, strict=True)
    ]
    # One gather with broadcast indices instead of three full-size intermediate copies.
    gathered = labels[0, 0][axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :]]
    return gathered[None, None]


def _undo_orientation(array: np.ndarray, mapping: GridMapping) -> np.ndarray:
    """On the scan's axes, C-contiguous (flips and transposes alone leave a strided view)."""
    return np.ascontiguousarray(nio.apply_orientation(array, _inverse_ornt(mapping.ornt)))


def _inverse_ornt(ornt: np.ndarray) -> np.ndarray:
    """The orientation transform that undoes `ornt`."""
    inverse = np.zeros_like(ornt)
    for original_axis, (new_axis, flip) in enumerate(ornt):
        inverse[int(new_axis)] = (original_axis, flip)
    return inverse
