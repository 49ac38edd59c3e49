"""The step's own pipeline for bundles our train step wrote.

Brings the series to the bundle's orientation and spacing, normalises, runs the sliding-window
fold ensemble (optionally with flip TTA) with the window, overlap and windows per pass the
bundle's spec gives (`BundleSpec.sliding_window()`, the settings its inference.json states), maps the class margins back onto the scan's grid and
keeps each label's largest components. Imported once torch is loaded (see `__main__`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from containers.common.bundle_spec import BundleSpec
from containers.common.dicom_series import Series
from containers.common.qc_picture import grey_levels
from containers.common.resample import (
    GridMapping,
    labels_to_original_grid,
    plan_grid,
    to_model_grid,
)
from containers.infer.predict import choose_sw_batch_size, predict
from containers.infer.segmentation import Segmentation, StageTimes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NativeOptions:
    tta: bool = False
    resample: str = "linear"
    largest_component: bool = True
    sw_batch_size: int | None = None


@dataclass
class ModelInput:
    """The series on the model's grid, normalised, ready for the network."""

    image: torch.Tensor
    mapping: GridMapping
    seconds: float


def to_model_input(series: Series, spec: BundleSpec) -> ModelInput:
    """Reoriented, resampled and normalised; `series.volume` becomes its 8-bit grey levels
    (all the QC picture needs) while the network runs."""
    start = time.perf_counter()
    mapping = plan_grid(series.shape, series.affine, spec.spacing, spec.orientation)
    image = to_model_grid(series.volume, mapping)
    spec.normalization.apply(image.numpy(), in_place=True)  # the tensor is ours alone
    # Held in half precision while the network runs (windows go to it as float32): a step of
    # 1/2048 of the normalised range, far below the scan's own noise, for half the memory.
    image = image.half()
    # From here on only the QC picture needs the scan's voxels: keep just the 8-bit grey
    # levels it shows, a quarter of the float32 volume, while the network runs.
    series.volume = grey_levels(series.volume)
    log.info("model grid %s at %s mm", mapping.model_shape, spec.spacing)
    return ModelInput(image=image, mapping=mapping, seconds=time.perf_counter() - start)


def segment_native(
    prepared: ModelInput,
    spec: BundleSpec,
    models: Sequence[Any],
    device: torch.device,
    options: NativeOptions,
    *,
    before_cleanup: Callable[[], None] | None = None,
) -> Segmentation:
    """The label map on the series' grid. `before_cleanup` waits for the writers' libraries
    and starts side work (checksums) that overlaps the one-core clean-up."""
    window = spec.sliding_window()
    sw_batch_size = choose_sw_batch_size(
        device, window["roi_size"], options.sw_batch_size, stored=window["sw_batch_size"]
    )
    start = time.perf_counter()
    prediction = predict(
        prepared.image,
        list(models),
        patch_size=window["roi_size"],
        device=device,
        sw_batch_size=sw_batch_size,
        tta=options.tta,
        overlap=window["overlap"],
    )
    inference_seconds = time.perf_counter() - start
    del prepared.image

    start = time.perf_counter()
    label_map = labels_to_original_grid(prediction.margins, prepared.mapping, mode=options.resample)
    del prediction.margins
    resample_seconds = time.perf_counter() - start
    if before_cleanup is not None:
        before_cleanup()
    from containers.infer.cleanup import keep_largest_component

    start = time.perf_counter()
    if options.largest_component:
        pieces = {
            spec.labels[name]: n for name, n in spec.components.items() if name in spec.labels
        }
        keep_largest_component(label_map, sorted(spec.labels.values()), pieces)
    cleanup_seconds = time.perf_counter() - start
    return Segmentation(
        labels=dict(spec.labels),
        label_map=label_map,
        model_grid_shape=list(prepared.mapping.model_shape),
        times=StageTimes(
            preprocess_seconds=prepared.seconds,
            inference_seconds=inference_seconds,
            forward_seconds=prediction.forward_seconds,
            resample_seconds=resample_seconds,
            cleanup_seconds=cleanup_seconds,
            forward_passes=prediction.passes,
            windows=prediction.windows,
        ),
    )
