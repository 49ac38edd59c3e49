"""A detection bundle (MONAI RetinaNet, `monai.apps.detection`) run on one series through its own
inference config, and its boxes carried onto the series.

What is built from `configs/inference.json` (MONAI's `ConfigParser`, under the trust rule of
`containers.common.bundle_trust`: a detection bundle's config evaluates expressions and names
its own scripts, so the site must trust its code): `network_def` (weights from
`models/model.pt`), `preprocessing`, `detector_ops` (the detector's box selection: score
threshold, top-k, NMS, detections per image, and its sliding window, as the bundle's evaluator
requires them before it runs) and `inferer` (e.g. the zoo's `RetinaNetInferer`, which holds the
`RetinaNetDetector`). The scan is staged as NIfTI with its RAS affine and handed to the
preprocessing as the bundle's datalist would hand a file; the inferer returns boxes after NMS
(`xyzxyz`, in voxel indices of the preprocessed image, the convention of MONAI's
`AffineBoxToWorldCoordinated`: index n is the centre of voxel n) with their scores.

The bundle's `postprocessing` (clip to the image, `AffineBoxToWorldCoordinated`, `cccwhd`) is
not run: the detector already clips its boxes to the image, and the world conversion maps only
two corners of each box through the affine, which on an oblique series is not the box. Here
all eight corners go through the preprocessed image's affine (the bundle's `Orientationd` and
`Spacingd` keep the series' directions, so the box stays a box along the series' axes) to LPS
and into the scan frame (`containers.common.lesions.ScanFrame`): right on axial and oblique
series alike.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from containers.common.dicom_series import LPS_TO_RAS, Series
from containers.common.lesions import ScanFrame
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

DETECTION_ITEMS = ("network_def", "preprocessing", "detector_ops", "inferer")
BOX_KEY, SCORE_KEY = "box", "label_scores"  # what MONAI's RetinaNetDetector returns


@dataclass(frozen=True)
class Detections:
    """Boxes after the bundle's NMS, in the scan frame of the series, with their scores."""

    boxes_mm: np.ndarray  # (N, 6) scan frame, [lo x3, hi x3]
    scores: np.ndarray  # (N,)
    model_grid_shape: tuple[int, ...]
    preprocess_seconds: float
    inference_seconds: float


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """The 8 corners (N, 8, 3) of `xyzxyz` boxes (N, 6)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 6)
    pick = np.array([[(n >> a) & 1 for a in range(3)] for n in range(8)])  # 0: lo, 1: hi
    axes = np.arange(3)
    return np.stack([boxes[:, axes + 3 * p] for p in pick], axis=1)


def model_boxes_to_scan(
    boxes: np.ndarray, model_affine_ras: np.ndarray, frame: ScanFrame
) -> np.ndarray:
    """Boxes in voxel indices of a grid with affine `model_affine_ras` (voxel → RAS mm) as
    scan-frame boxes of `frame`: each box's eight corners to LPS, then to the scan frame, and
    the box around them (exact when the grid's axes are the series' axes in any order)."""
    corners = box_corners(boxes)  # (N, 8, 3)
    if corners.shape[0] == 0:
        return np.zeros((0, 6))
    affine_lps = LPS_TO_RAS @ np.asarray(model_affine_ras, dtype=np.float64)
    lps = corners @ affine_lps[:3, :3].T + affine_lps[:3, 3]
    scan = frame.from_lps(lps.reshape(-1, 3)).reshape(-1, 8, 3)
    return np.concatenate([scan.min(axis=1), scan.max(axis=1)], axis=1)


@dataclass
class DetectionPipeline:
    root: Path
    config_path: Path
    network: Any
    preprocessing: Any
    inferer: Any
    image_key: str
    trust_reason: str
    code_checksum: str
    overrides: dict[str, Any]


def read_detection_pipeline(
    root: Path, *, overrides: Mapping[str, Any] | None = None
) -> DetectionPipeline:
    """The bundle's detection items built by MONAI (see the module), weights loaded."""
    from containers.common.bundle_pipeline import build_workflow, image_key_of, read_config
    from containers.infer.model_loading import load_weights

    path, raw = read_config(root, overrides)
    missing = [item for item in DETECTION_ITEMS if item not in raw]
    if missing:
        raise UserError(
            f"bundle {root.name}: {path.relative_to(root)} has no {', '.join(missing)}; "
            "detection runs a MONAI detection workflow (network_def, preprocessing, "
            "detector_ops, inferer), as the model zoo's lung_nodule_ct_detection defines it"
        )
    path, items, trust = build_workflow(root, DETECTION_ITEMS, overrides=overrides)
    network, preprocessing = items["network_def"], items["preprocessing"]
    load_weights(network, root)
    return DetectionPipeline(
        root=root,
        config_path=path,
        network=network,
        preprocessing=preprocessing,
        inferer=items["inferer"],
        image_key=image_key_of(preprocessing, root, str(path.relative_to(root))),
        trust_reason=trust.reason,
        code_checksum=trust.code_checksum,
        overrides=dict(overrides or {}),
    )


def detect(pipeline: DetectionPipeline, series: Series, *, device: Any) -> Detections:
    """Run the bundle on `series`; boxes after its NMS, in the series' scan frame."""
    import torch

    from containers.infer.bundle_run import stage_channels

    key = pipeline.image_key
    with tempfile.TemporaryDirectory(prefix="xnat-monai-detect-") as scratch:
        start = time.perf_counter()
        (staged,) = stage_channels([series.volume], [series.affine], Path(scratch))
        item = pipeline.preprocessing({key: str(staged)})
    image = item[key]
    model_affine = np.asarray(image.affine, dtype=np.float64)
    preprocess_seconds = time.perf_counter() - start
    log.info("bundle preprocessing: %s on the model grid", list(image.shape[1:]))
    network = pipeline.network.to(device).eval()
    start = time.perf_counter()
    try:
        with torch.no_grad():
            out = pipeline.inferer(image[None].to(device), network)
    except (RuntimeError, ValueError) as exc:
        lines = str(exc).strip().splitlines()
        raise UserError(
            f"bundle {pipeline.root.name} failed on this scan ({list(image.shape[1:])} voxels "
            f"after its preprocessing): {type(exc).__name__}: {lines[0] if lines else ''}; "
            "its infer_patch_size or size_divisible may not fit the scan"
        ) from exc
    inference_seconds = time.perf_counter() - start
    result = out[0] if isinstance(out, list | tuple) else out
    boxes = np.asarray(result[BOX_KEY].detach().cpu().numpy(), dtype=np.float64).reshape(-1, 6)
    scores = np.asarray(result[SCORE_KEY].detach().cpu().numpy(), dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise UserError(
            f"bundle {pipeline.root.name} returned {len(boxes)} boxes but {len(scores)} scores"
        )
    keep = np.isfinite(scores) & np.isfinite(boxes).all(axis=1)
    scan_boxes = model_boxes_to_scan(boxes[keep], model_affine, ScanFrame.of(series))
    order = np.argsort(-scores[keep], kind="stable")
    return Detections(
        boxes_mm=scan_boxes[order],
        scores=scores[keep][order],
        model_grid_shape=tuple(int(s) for s in image.shape[1:]),
        preprocess_seconds=preprocess_seconds,
        inference_seconds=inference_seconds,
    )
