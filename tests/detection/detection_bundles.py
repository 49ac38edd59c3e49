"""Detection bundles for tests: a tiny one written here in the model zoo's layout (its
lung_nodule_ct_detection inference config, with a small feature extractor and a whole-image
inferer in its scripts/), and what a bundle's own config returns for a scan.

The tiny bundle keeps what the step relies on: MONAI's RetinaNet and RetinaNetDetector built
from `network_def`, `detector_ops` (score threshold, NMS, detections per image), the zoo's
preprocessing (LoadImaged, Orientationd RAS, Spacingd to 0.703 × 0.703 × 1.25 mm, HU window) and
postprocessing (ClipBoxToImaged, AffineBoxToWorldCoordinated, cccwhd), code in scripts/ (so the
site must trust it). Its feature extractor is three strided convolutions, not a ResNet-FPN
(MONAI's ResNet-FPN needs torchvision).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

SCRIPT = '''"""A tiny detector's parts: feature maps at strides 2, 4 and 8, and a whole-image inferer."""

import torch
from torch import nn


class TinyFeatures(nn.Module):
    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.out_channels = channels
        self.stem = nn.Conv3d(1, channels, 3, stride=2, padding=1)
        self.down1 = nn.Conv3d(channels, channels, 3, stride=2, padding=1)
        self.down2 = nn.Conv3d(channels, channels, 3, stride=2, padding=1)

    def forward(self, images):
        first = torch.relu(self.stem(images))
        second = torch.relu(self.down1(first))
        return {"0": first, "1": second, "2": torch.relu(self.down2(second))}


class WholeImageInferer:
    def __init__(self, detector) -> None:
        self.detector = detector

    def __call__(self, inputs, network):
        self.detector.network = network
        self.detector.training = network.training
        return self.detector(inputs, use_inferer=False)
'''


def tiny_detection_config() -> dict[str, Any]:
    return {
        "imports": ["$import numpy"],
        "bundle_root": ".",
        "image_key": "image",
        "device": "$torch.device('cpu')",
        "spatial_dims": 3,
        "num_classes": 1,
        "size_divisible": [8, 8, 8],
        "anchor_generator": {
            "_target_": "monai.apps.detection.utils.anchor_utils.AnchorGeneratorWithAnchorShape",
            "feature_map_scales": [1, 2, 4],
            "base_anchor_shapes": [[6, 8, 4], [8, 6, 5], [10, 10, 6]],
        },
        "feature_extractor": {"_target_": "scripts.tiny_detection.TinyFeatures"},
        "network_def": {
            "_target_": "RetinaNet",
            "spatial_dims": "@spatial_dims",
            "num_classes": "@num_classes",
            "num_anchors": 3,
            "feature_extractor": "@feature_extractor",
            "size_divisible": "@size_divisible",
            "use_list_output": False,
        },
        "network": "$@network_def.to(@device)",
        "detector": {
            "_target_": "RetinaNetDetector",
            "network": "@network",
            "anchor_generator": "@anchor_generator",
            "spatial_dims": "@spatial_dims",
            "num_classes": "@num_classes",
            "size_divisible": "@size_divisible",
        },
        "detector_ops": [
            "$@detector.set_target_keys(box_key='box', label_key='label')",
            "$@detector.set_box_selector_parameters(score_thresh=0.02,"
            "topk_candidates_per_level=100,nms_thresh=0.22,detections_per_img=12)",
        ],
        "preprocessing": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "LoadImaged", "keys": "@image_key"},
                {"_target_": "EnsureChannelFirstd", "keys": "@image_key"},
                {"_target_": "Orientationd", "keys": "@image_key", "axcodes": "RAS"},
                {
                    "_target_": "Spacingd",
                    "keys": "@image_key",
                    "pixdim": [0.703125, 0.703125, 1.25],
                },
                {
                    "_target_": "ScaleIntensityRanged",
                    "keys": "@image_key",
                    "a_min": -1024.0,
                    "a_max": 300.0,
                    "b_min": 0.0,
                    "b_max": 1.0,
                    "clip": True,
                },
                {"_target_": "EnsureTyped", "keys": "@image_key"},
            ],
        },  # fmt: skip
        "inferer": {
            "_target_": "scripts.tiny_detection.WholeImageInferer",
            "detector": "@detector",
        },
        "postprocessing": {
            "_target_": "Compose",
            "transforms": [
                {
                    "_target_": "ClipBoxToImaged",
                    "box_keys": "box",
                    "label_keys": "label",
                    "box_ref_image_keys": "@image_key",
                    "remove_empty": True,
                },
                {
                    "_target_": "AffineBoxToWorldCoordinated",
                    "box_keys": "box",
                    "box_ref_image_keys": "@image_key",
                    "affine_lps_to_ras": True,
                },
                {
                    "_target_": "ConvertBoxModed",
                    "box_keys": "box",
                    "src_mode": "xyzxyz",
                    "dst_mode": "cccwhd",
                },
            ],
        },  # fmt: skip
    }


def tiny_detection_bundle(folder: Path, *, seed: int = 0) -> Path:
    """The tiny bundle at `folder`, random weights but for the classification head's prior
    bias (score 0.01 everywhere, under the detector's 0.02 threshold), set to 0 so that the
    detector keeps boxes with scores near 0.5."""
    (folder / "configs").mkdir(parents=True)
    (folder / "scripts").mkdir()
    (folder / "scripts" / "__init__.py").write_text("")
    (folder / "scripts" / "tiny_detection.py").write_text(SCRIPT)
    (folder / "configs" / "inference.json").write_text(
        json.dumps(tiny_detection_config(), indent=1)
    )
    metadata = {"version": "0.1.0", "name": "tiny lung nodule detector", "task": "detection"}
    (folder / "configs" / "metadata.json").write_text(json.dumps(metadata))
    random_detection_weights(folder, seed=seed)
    return folder


def random_detection_weights(bundle: Path, *, seed: int = 0, overrides: dict | None = None) -> None:
    """models/model.pt of the bundle's network_def with random weights and a zero prior bias."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser.update({"bundle_root": str(bundle), **(overrides or {})})
    with _on_path(bundle):
        torch.manual_seed(seed)
        network = parser.get_parsed_content("network_def")
    state = network.state_dict()
    (key,) = [k for k in state if k.endswith("cls_logits.bias")]
    state[key] = torch.zeros_like(state[key])
    (bundle / "models").mkdir(exist_ok=True)
    torch.save(state, bundle / "models" / "model.pt")


class _on_path:
    """The bundle's scripts/ importable as `scripts.*` for a while, as `monai.bundle run` does."""

    def __init__(self, bundle: Path) -> None:
        self.bundle = str(bundle)

    def __enter__(self) -> None:
        sys.path.insert(0, self.bundle)

    def __exit__(self, *_: object) -> None:
        sys.path.remove(self.bundle)
        for name in [n for n in sys.modules if n == "scripts" or n.startswith("scripts.")]:
            del sys.modules[name]


def bundle_own_boxes(bundle: Path, series: Any, overrides: dict | None = None) -> np.ndarray:
    """(N, 6) cccwhd LPS boxes by the bundle's config alone: preprocessing, detector_ops,
    inferer and postprocessing built by MONAI's ConfigParser, as `monai.bundle run` builds them."""
    from monai.bundle import ConfigParser

    from containers.infer.bundle_run import stage_channels

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser.update(
        {"bundle_root": str(bundle), "device": "$torch.device('cpu')", **(overrides or {})}
    )
    with _on_path(bundle):
        network = parser.get_parsed_content("network_def")
        network.load_state_dict(torch.load(bundle / "models" / "model.pt", weights_only=True))
        preprocessing = parser.get_parsed_content("preprocessing")
        parser.get_parsed_content("detector_ops")
        inferer = parser.get_parsed_content("inferer")
        postprocessing = parser.get_parsed_content("postprocessing")
        (staged,) = stage_channels([series.volume], [series.affine], bundle.parent / "own-stage")
        item = preprocessing({"image": str(staged)})
        with torch.no_grad():
            (pred,) = inferer(item["image"][None], network.eval())
        out = postprocessing({**pred, "image": item["image"]})
    return np.asarray(out["box"], dtype=np.float64).reshape(-1, 6)


def as_cccwhd_lps(boxes_mm: np.ndarray, frame: Any) -> np.ndarray:
    """Scan-frame boxes of an axial series as cccwhd LPS boxes (centre, size)."""
    lo = frame.to_lps(boxes_mm[:, :3])
    hi = frame.to_lps(boxes_mm[:, 3:])
    return np.concatenate([(lo + hi) / 2, np.abs(hi - lo)], axis=1)
