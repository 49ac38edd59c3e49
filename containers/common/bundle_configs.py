"""A bundle's MONAI files: `configs/metadata.json` and a runnable `configs/inference.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from containers.common.bundle_spec import BundleSpec, CTWindow
from xnat_plugin.errors import UserError
from xnat_plugin.models.layout import SPEC_KEY

__all__ = [
    "METADATA_SCHEMA",
    "SPEC_KEY",
    "check_inferer_agrees",
    "inference_config",
    "monai_metadata",
]

METADATA_SCHEMA = (
    "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/"
    "0.8.1/meta_schema_20220324.json"
)


def monai_metadata(spec: BundleSpec) -> dict[str, Any]:
    """configs/metadata.json in MONAI's convention, with our full spec under "xnat_monai"."""
    # Only a bundle's writer needs these (train has them loaded already): see bundle.py.
    import monai
    import torch

    value_range = [0, 1] if isinstance(spec.normalization, CTWindow) else []
    return {
        "schema": METADATA_SCHEMA,
        "version": spec.version,
        "changelog": {spec.version: "trained with xnat-monai"},
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": np.__version__,
        "required_packages_version": {"nibabel": _version_of("nibabel")},
        "name": spec.model_name,
        "task": f"{spec.modality} segmentation of {', '.join(spec.labels)}",
        "description": spec.description,
        "authors": spec.authors,
        "copyright": "see the project that trained it",
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "hounsfield" if spec.modality == "CT" else "magnitude",
                    "modality": spec.modality,
                    "num_channels": spec.in_channels,
                    "spatial_shape": list(spec.patch_size),
                    "dtype": "float32",
                    "value_range": value_range,
                    "is_patch_data": True,
                    "channel_def": {"0": "image"},
                }
            },
            "outputs": {
                "pred": {
                    "type": "image",
                    "format": "segmentation",
                    "num_channels": spec.out_channels,
                    "spatial_shape": list(spec.patch_size),
                    "dtype": "float32",
                    "value_range": [0, 1],
                    "is_patch_data": True,
                    "channel_def": {
                        "0": "background",
                        **{str(v): n for v, n in sorted(spec.labels_by_value.items())},
                    },
                }
            },
        },
        SPEC_KEY: json.loads(spec.model_dump_json()),
    }


def _version_of(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def inference_config(spec: BundleSpec) -> dict[str, Any]:
    """configs/inference.json: NIfTI files in `dataset_dir` → label maps in `output_dir`."""
    if isinstance(spec.normalization, CTWindow):
        intensity: dict[str, Any] = {
            "_target_": "ScaleIntensityRanged",
            "keys": "image",
            "a_min": spec.normalization.a_min,
            "a_max": spec.normalization.a_max,
            "b_min": 0.0,
            "b_max": 1.0,
            "clip": True,
        }
    else:
        intensity = {
            "_target_": "NormalizeIntensityd",
            "keys": "image",
            "subtrahend": spec.normalization.mean,
            "divisor": spec.normalization.std,
        }
    return {
        "imports": ["$import glob", "$import os"],
        "bundle_root": ".",
        "output_dir": "$@bundle_root + '/eval'",
        "dataset_dir": "$@bundle_root + '/data'",
        "datalist": "$list(sorted(glob.glob(@dataset_dir + '/*.nii*')))",
        "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "network_def": {
            "_target_": spec.network.name,
            "spatial_dims": 3,
            "in_channels": spec.in_channels,
            "out_channels": spec.out_channels,
            **_monai_config_kwargs(spec),
        },
        "network": "$@network_def.to(@device)",
        "preprocessing": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "LoadImaged", "keys": "image"},
                {"_target_": "EnsureChannelFirstd", "keys": "image"},
                {"_target_": "Orientationd", "keys": "image", "axcodes": spec.orientation},
                {
                    "_target_": "Spacingd",
                    "keys": "image",
                    "pixdim": list(spec.spacing),
                    "mode": "bilinear",
                },
                intensity,
                {"_target_": "EnsureTyped", "keys": "image"},
            ],
        },
        "dataset": {
            "_target_": "Dataset",
            "data": "$[{'image': i} for i in @datalist]",
            "transform": "@preprocessing",
        },
        "dataloader": {
            "_target_": "DataLoader",
            "dataset": "@dataset",
            "batch_size": 1,
            "shuffle": False,
            "num_workers": 0,
        },
        "inferer": {"_target_": "SlidingWindowInferer", **spec.sliding_window()},
        "postprocessing": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "Activationsd", "keys": "pred", "softmax": True},
                {
                    "_target_": "Invertd",
                    "keys": "pred",
                    "transform": "@preprocessing",
                    "orig_keys": "image",
                    "nearest_interp": False,
                    "to_tensor": True,
                },
                {"_target_": "AsDiscreted", "keys": "pred", "argmax": True},
                {
                    "_target_": "SaveImaged",
                    "keys": "pred",
                    "output_dir": "@output_dir",
                    "output_postfix": "seg",
                    "output_dtype": "$numpy.uint8",
                    "resample": False,
                    "separate_folder": False,
                },
            ],
        },
        "handlers": [
            {
                "_target_": "CheckpointLoader",
                "load_path": "$@bundle_root + '/models/model.pt'",
                "load_dict": {"model": "@network"},
                "map_location": "@device",
            }
        ],
        "evaluator": {
            "_target_": "SupervisedEvaluator",
            "device": "@device",
            "val_data_loader": "@dataloader",
            "network": "@network",
            "inferer": "@inferer",
            "postprocessing": "@postprocessing",
            "val_handlers": "@handlers",
            "amp": False,
        },
        "initialize": ["$monai.utils.set_determinism(seed=0)"],
        "run": ["$@evaluator.run()"],
    }


def _monai_config_kwargs(spec: BundleSpec) -> dict[str, Any]:
    kwargs = spec.network_kwargs()
    if spec.network.name == "DynUNet":
        return kwargs
    return {k: v for k, v in kwargs.items() if k != "spatial_dims"}


def check_inferer_agrees(root: Path, spec: BundleSpec) -> None:
    """Refuse a bundle whose configs/inference.json states another sliding window than its
    spec: the step's own infer and `monai.bundle run` must slide the same windows, so an edit
    of one file alone is caught here instead of running silently on the other's values.
    Plain JSON, no MONAI: what our train step writes there are literal values."""
    path = root / "configs" / "inference.json"
    if not path.is_file():
        return
    try:
        stated = json.loads(path.read_text()).get("inferer", {})
    except (json.JSONDecodeError, AttributeError) as exc:
        raise UserError(f"{path} is not a JSON object: {exc}") from exc
    if not isinstance(stated, dict):
        return
    differs = [
        f"{key} {stated[key]!r} there but {value!r} in metadata.json"
        for key, value in spec.sliding_window().items()
        if key in stated and stated[key] != value
    ]
    if differs:
        raise UserError(
            f"{path}: its inferer disagrees with configs/metadata.json's {SPEC_KEY}.inferer and "
            f"patch_size ({'; '.join(differs)}): set both to the same values"
        )
