"""REPORT/report.json of one inference run: volumes per label, timings, provenance."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel

from containers.common.provenance import Provenance


class LabelVolume(BaseModel):
    value: int
    voxels: int
    volume_ml: float


class Timings(BaseModel):
    read_seconds: float
    preprocess_seconds: float
    forward_seconds: float
    inference_seconds: float  # sliding windows incl. forward passes
    postprocess_seconds: float  # resample + cleanup
    resample_seconds: float  # class scores back onto the scan's grid
    cleanup_seconds: float  # largest-component clean-up
    write_seconds: float
    total_seconds: float
    # Of the total, how long the step waited for libraries and the model being loaded in the
    # background (torch, MONAI, weights) once its own work had run out: not the step's work.
    startup_wait_seconds: float = 0.0
    forward_passes: int  # passes over the volume: models × flips
    windows: int  # sliding windows the network evaluated, over all passes


class ChannelChoice(BaseModel):
    """Which scan fed an input channel, and why (see containers.infer.channels)."""

    channel: str
    scan_id: str | None
    series_description: str
    series_instance_uid: str
    chosen_by: str
    resampled_onto_first: bool = False


class InferenceReport(BaseModel):
    model_name: str
    model_version: str
    series_instance_uid: str
    seg_sop_instance_uid: str
    assessor_label: str | None
    image_shape: list[int]
    model_grid_shape: list[int]
    spacing_mm: list[float]
    labels: dict[str, LabelVolume]
    tta: bool
    largest_component: bool
    # "xnat-monai": the step's own pipeline; "bundle": the bundle's own MONAI pipeline.
    pipeline: str = "xnat-monai"
    overlapping_segments: bool = False
    channels: list[ChannelChoice] = []
    timings: Timings
    provenance: Provenance


def label_volumes(
    label_map: np.ndarray, labels: Mapping[str, int], spacing: tuple[float, float, float]
) -> dict[str, LabelVolume]:
    """Voxel count and mL per label (1 mL = 1000 mm³)."""
    import torch  # loaded by the time labels are counted; the report model needs none

    flat = label_map.ravel(order="K")
    if flat.dtype == np.uint8:  # torch counts uint8 as is; numpy first copies it to int64
        counts = torch.bincount(torch.from_numpy(flat), minlength=256).numpy()
    else:
        counts = np.bincount(flat, minlength=max(labels.values()) + 1)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    return {
        name: LabelVolume(
            value=value,
            voxels=int(counts[value]),
            volume_ml=round(int(counts[value]) * voxel_ml, 3),
        )
        for name, value in sorted(labels.items(), key=lambda item: item[1])
    }


def mask_volumes(
    masks: np.ndarray, labels: Mapping[str, int], spacing: tuple[float, float, float]
) -> dict[str, LabelVolume]:
    """Voxel count and mL per mask (label value k is `masks[k - 1]`)."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    volumes = {}
    for name, value in sorted(labels.items(), key=lambda item: item[1]):
        voxels = int(np.count_nonzero(masks[value - 1]))
        volumes[name] = LabelVolume(
            value=value, voxels=voxels, volume_ml=round(voxels * voxel_ml, 3)
        )
    return volumes
