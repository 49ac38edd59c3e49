"""Run a bundle's own pipeline on a scan, as MONAI's SupervisedEvaluator would.

The series (one per input channel) is staged as NIfTI in a scratch folder and handed to the
bundle's `preprocessing` the way its datalist would give a file (`{"image": path}`, or a list
of paths for several channels, which LoadImaged stacks). Then, as the evaluator does: collate a
batch of one, `inferer(inputs, network)` (under autocast on CUDA when the bundle asks for AMP),
decollate batch and output, and apply `postprocessing` to the merged item.

What comes out is read by the bundle's metadata (`xnat_plugin.models.layout.BundleFormat`):
- exclusive classes (channel 0 "background"): the postprocessed prediction is a label map whose
  values are the channels (spleen, prostate, the segmentation template);
- one mask per channel (sigmoid outputs): postprocessing runs while the prediction keeps one
  channel per output; a later step that merges them into one map (BraTS's 1/2/4 labels) is that
  bundle's file convention and is left out, so overlapping regions stay overlapping segments.

A prediction left on another grid (no Invertd) is resampled onto the scan by nearest neighbour.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from containers.common.bundle_pipeline import BundlePipeline
from containers.common.dicom_series import Series
from containers.common.nifti_io import write_nifti
from containers.infer.segmentation import Segmentation, StageTimes
from xnat_plugin.errors import UserError
from xnat_plugin.models.layout import BundleFormat

log = logging.getLogger(__name__)


@dataclass
class BundlePrediction:
    """The bundle's answer on the first channel's grid."""

    label_map: np.ndarray | None  # uint8 (X, Y, Z): exclusive classes
    masks: np.ndarray | None  # bool (segments, X, Y, Z): one mask per output channel
    model_grid_shape: list[int]
    preprocess_seconds: float
    inference_seconds: float
    forward_seconds: float
    postprocess_seconds: float
    windows: int


class _TimedNetwork:
    """The network as the inferer calls it, adding up forward time and calls."""

    def __init__(self, network: Any, device: Any) -> None:
        self.network, self.device = network, device
        self.seconds, self.calls = 0.0, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        start = time.perf_counter()
        out = self.network(*args, **kwargs)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def stage_channels(
    volumes: Sequence[np.ndarray], affines: Sequence[np.ndarray], folder: Path
) -> list[Path]:
    """Each channel as an uncompressed NIfTI with its scan's RAS affine."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_nifti(folder / f"channel_{c}.nii", volume.astype(np.float32, copy=False), affine)
        for c, (volume, affine) in enumerate(zip(volumes, affines, strict=True))
    ]


def run_bundle(
    pipeline: BundlePipeline,
    files: Sequence[Path],
    bundle_format: BundleFormat,
    *,
    shape: tuple[int, int, int],
    affine: np.ndarray,
    device: Any,
    after_forward: Callable[[], None] | None = None,
) -> BundlePrediction:
    """The bundle's pipeline on staged `files` (one per input channel, all on one grid);
    `after_forward` is called between the inferer and the postprocessing."""
    import torch
    from monai.data import decollate_batch, list_data_collate

    key = pipeline.image_key
    start = time.perf_counter()
    source: str | list[str] = str(files[0]) if len(files) == 1 else [str(f) for f in files]
    item = pipeline.preprocessing({key: source})
    batch = list_data_collate([item])
    inputs = batch[key].to(device)
    preprocess_seconds = time.perf_counter() - start
    log.info("bundle preprocessing: %s on the model grid", list(inputs.shape[2:]))

    network = _TimedNetwork(pipeline.network.to(device).eval(), device)
    amp = torch.autocast("cuda") if pipeline.amp and device.type == "cuda" else nullcontext()
    start = time.perf_counter()
    try:
        with torch.no_grad(), amp:
            pred = pipeline.inferer(inputs, network)
    except (RuntimeError, ValueError) as exc:
        raise UserError(
            f"bundle {pipeline.root.name} failed on this scan ({list(inputs.shape[2:])} voxels "
            f"after its preprocessing): {type(exc).__name__}: {_first_line(exc)}; its inferer "
            "may need a different roi_size, or the image a size the network accepts "
            "(see the bundle's network_data_format spatial_shape)"
        ) from exc
    inference_seconds = time.perf_counter() - start
    if after_forward is not None:
        after_forward()

    start = time.perf_counter()
    merged = {
        **decollate_batch(batch, detach=True)[0],
        **decollate_batch({key: inputs, "pred": pred}, detach=True)[0],
    }
    del batch, inputs, pred
    if bundle_format.exclusive:
        result = _as_numpy(pipeline.postprocessing(merged)["pred"], shape, affine)
        label_map, masks = _label_map(result, bundle_format, pipeline), None
    else:
        result = _as_numpy(_postprocess_per_channel(pipeline, merged, bundle_format), shape, affine)
        label_map, masks = None, result > 0.5
    postprocess_seconds = time.perf_counter() - start
    return BundlePrediction(
        label_map=label_map,
        masks=masks,
        model_grid_shape=[int(s) for s in item[key].shape[1:]],
        preprocess_seconds=preprocess_seconds,
        inference_seconds=inference_seconds,
        forward_seconds=network.seconds,
        postprocess_seconds=postprocess_seconds,
        windows=network.calls,
    )


def _postprocess_per_channel(
    pipeline: BundlePipeline, data: dict[str, Any], bundle_format: BundleFormat
) -> Any:
    """Postprocessing while the prediction keeps one channel per output (see the module)."""
    channels = bundle_format.output_channels
    compose = pipeline.postprocessing
    for index, transform in enumerate(getattr(compose, "transforms", ())):
        after = compose(dict(data), start=index, end=index + 1)
        if after["pred"].shape[0] != channels:
            log.info(
                "bundle postprocessing kept up to %s: %s merges the %d output channels",
                index,
                type(transform).__name__,
                channels,
            )
            break
        data = after
    pred = data["pred"]
    if pred.shape[0] != channels:
        raise UserError(
            f"bundle {pipeline.root.name} predicts {pred.shape[0]} channel(s) but its metadata "
            f"names {channels} outputs; fix network_data_format in configs/metadata.json"
        )
    return pred


def _as_numpy(pred: Any, shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
    """(channels, *shape) float32 on the scan's grid (resampled there if the bundle left it
    on its own)."""
    import torch
    from monai.data import MetaTensor
    from monai.transforms import ResampleToMatch

    tensor = pred if isinstance(pred, torch.Tensor) else torch.as_tensor(np.asarray(pred))
    if tensor.ndim == 3:
        tensor = tensor[None]
    on_grid = tuple(tensor.shape[1:]) == tuple(shape)
    if on_grid and isinstance(tensor, MetaTensor):
        on_grid = np.allclose(np.asarray(tensor.affine, dtype=float), affine, atol=1e-3)
    if not on_grid:
        if not isinstance(tensor, MetaTensor):
            raise UserError(
                f"the bundle's prediction has shape {list(tensor.shape[1:])} and no geometry, "
                f"but the scan is {list(shape)}; add Invertd to its postprocessing"
            )
        log.info("bundle prediction is on its own grid: resampled onto the scan (nearest)")
        target = MetaTensor(torch.zeros((1, *shape)), affine=torch.as_tensor(affine))
        tensor = ResampleToMatch(mode="nearest")(tensor.float(), img_dst=target)
    return np.asarray(tensor.detach().cpu().float().numpy())


def _label_map(
    values: np.ndarray, bundle_format: BundleFormat, pipeline: BundlePipeline
) -> np.ndarray:
    """uint8 label map from a one-channel prediction of label values (rounded: an Invertd
    that interpolates labels leaves values in between)."""
    if values.shape[0] != 1:
        raise UserError(
            f"bundle {pipeline.root.name}: its postprocessing leaves {values.shape[0]} channels "
            "where a label map (one channel, e.g. after AsDiscreted argmax) was expected"
        )
    rounded = np.rint(values[0])
    found = {int(v) for v in np.unique(rounded)}
    unnamed = sorted(found - {0, *bundle_format.labels.values()})
    if unnamed:
        raise UserError(
            f"bundle {pipeline.root.name} labels voxels {unnamed}, values its metadata's "
            "channel_def does not name; fix network_data_format in configs/metadata.json"
        )
    return rounded.astype(np.uint8)


def segment_with_bundle(
    pipeline: BundlePipeline,
    bundle_format: BundleFormat,
    series: Sequence[Series],
    *,
    device: Any,
    after_forward: Callable[[], None] | None = None,
) -> Segmentation:
    """Stage the channels (the later ones resampled onto the first's grid), run the bundle,
    and return its segments on the first series' grid (`after_forward`: see `run_bundle`)."""
    first = series[0]
    volumes = [first.volume] + [
        resample_onto(s.volume, s.affine, first.shape, first.affine) for s in series[1:]
    ]
    with tempfile.TemporaryDirectory(prefix="xnat-monai-bundle-") as scratch:
        start = time.perf_counter()
        files = stage_channels(volumes, [first.affine] * len(volumes), Path(scratch))
        stage_seconds = time.perf_counter() - start
        del volumes
        result = run_bundle(
            pipeline,
            files,
            bundle_format,
            shape=first.shape,
            affine=first.affine,
            device=device,
            after_forward=after_forward,
        )
    times = StageTimes(
        preprocess_seconds=stage_seconds + result.preprocess_seconds,
        inference_seconds=result.inference_seconds,
        forward_seconds=result.forward_seconds,
        cleanup_seconds=result.postprocess_seconds,
        forward_passes=1,
        windows=result.windows,
    )
    if result.masks is not None:
        return Segmentation.from_masks(
            bundle_format.labels,
            result.masks,
            model_grid_shape=result.model_grid_shape,
            times=times,
        )
    assert result.label_map is not None
    return Segmentation(
        labels=dict(bundle_format.labels),
        label_map=result.label_map,
        model_grid_shape=result.model_grid_shape,
        times=times,
    )


def resample_onto(
    volume: np.ndarray, affine: np.ndarray, shape: tuple[int, int, int], target: np.ndarray
) -> np.ndarray:
    """`volume` on the grid (`shape`, `target` affine) of the first channel, trilinear
    (MONAI's ResampleToMatch); unchanged when the grids already agree."""
    if tuple(volume.shape) == tuple(shape) and np.allclose(affine, target, atol=1e-3):
        return volume
    import torch
    from monai.data import MetaTensor
    from monai.transforms import ResampleToMatch

    log.info("resampling a channel of shape %s onto the first channel's grid", list(volume.shape))
    source = MetaTensor(
        torch.from_numpy(np.ascontiguousarray(volume, np.float32))[None],
        affine=torch.as_tensor(affine),
    )
    grid = MetaTensor(torch.zeros((1, *shape)), affine=torch.as_tensor(target))
    moved = ResampleToMatch(mode="bilinear", padding_mode="zeros")(source, img_dst=grid)
    return np.asarray(moved[0].numpy(), dtype=np.float32)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""
