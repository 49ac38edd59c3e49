"""MONAI bundles for tests: copies of the model zoo's with random weights, and tiny ones written
here (JSON or YAML) so the mechanism is proven without ../shared.

Weights are built from each bundle's own `network_def` by MONAI's ConfigParser with random
values: enough to prove the plumbing, not accuracy.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import yaml


def random_weights(bundle: Path, *, seed: int = 0, overrides: dict[str, Any] | None = None) -> Path:
    """models/model.pt: the state dict of `network_def` built with random values."""
    from monai.bundle import ConfigParser

    config = next(
        p for p in (bundle / "configs").iterdir() if p.stem == "inference" and p.suffix != ".trt"
    )
    parser = ConfigParser()
    parser.read_config(str(config))
    parser.update(overrides or {})
    torch.manual_seed(seed)
    network = parser.get_parsed_content("network_def")
    (bundle / "models").mkdir(parents=True, exist_ok=True)
    torch.save(network.state_dict(), bundle / "models" / "model.pt")
    return bundle / "models" / "model.pt"


def zoo_bundle(reference_dir: Path, name: str, destination: Path, *, seed: int = 0) -> Path:
    """A copy of model-zoo bundle `name` (configs, scripts, docs, licence) with random weights."""
    target = destination / name
    shutil.copytree(reference_dir / "monai-model-zoo" / name, target)
    random_weights(target, seed=seed)
    return target


def tiny_metadata(
    labels: list[str], *, channels: list[str] | None = None, background: bool = True
) -> dict[str, Any]:
    channels = channels or ["image"]
    outputs = (["background"] if background else []) + labels
    return {
        "version": "0.1.0",
        "name": "Tiny test bundle",
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "num_channels": len(channels),
                    "channel_def": {str(i): c for i, c in enumerate(channels)},
                }
            },
            "outputs": {
                "pred": {
                    "type": "image",
                    "format": "segmentation",
                    "num_channels": len(outputs),
                    "channel_def": {str(i): n for i, n in enumerate(outputs)},
                }
            },
        },
    }


def tiny_inference_config(
    out_channels: int,
    *,
    in_channels: int = 1,
    spacing: tuple[float, float, float] = (2.0, 2.0, 2.0),
    roi: tuple[int, int, int] = (16, 16, 16),
) -> dict[str, Any]:
    """A declarative inference config in the model zoo's shape: a 2-level UNet, RAS, spacing,
    intensity scaling, sliding windows, softmax + Invertd + argmax, and a writer."""
    return {
        "imports": ["$import glob", "$import os"],
        "bundle_root": ".",
        "image_key": "image",
        "output_dir": "$@bundle_root + '/eval'",
        "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "network_def": {
            "_target_": "UNet",
            "spatial_dims": 3,
            "in_channels": in_channels,
            "out_channels": out_channels,
            "channels": [4, 8],
            "strides": [2],
            "num_res_units": 1,
        },
        "network": "$@network_def.to(@device)",
        "preprocessing": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "LoadImaged", "keys": "@image_key"},
                {"_target_": "EnsureChannelFirstd", "keys": "@image_key"},
                {"_target_": "Orientationd", "keys": "@image_key", "axcodes": "RAS"},
                {
                    "_target_": "Spacingd",
                    "keys": "@image_key",
                    "pixdim": list(spacing),
                    "mode": "bilinear",
                },
                {
                    "_target_": "ScaleIntensityRanged",
                    "keys": "@image_key",
                    "a_min": -100,
                    "a_max": 200,
                    "b_min": 0.0,
                    "b_max": 1.0,
                    "clip": True,
                },
                {"_target_": "EnsureTyped", "keys": "@image_key", "dtype": "$torch.float32"},
            ],
        },
        "inferer": {
            "_target_": "SlidingWindowInferer",
            "roi_size": list(roi),
            "sw_batch_size": 1,
            "overlap": 0.25,
        },
        "postprocessing": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "Activationsd", "keys": "pred", "softmax": True},
                {
                    "_target_": "Invertd",
                    "keys": "pred",
                    "transform": "@preprocessing",
                    "orig_keys": "@image_key",
                    "nearest_interp": False,
                    "to_tensor": True,
                },
                {"_target_": "AsDiscreted", "keys": "pred", "argmax": True},
                {
                    "_target_": "SaveImaged",
                    "keys": "pred",
                    "output_dir": "@output_dir",
                    "output_dtype": "$numpy.uint8",
                    "separate_folder": False,
                },
            ],
        },
        "dataset_dir": "$@bundle_root + '/data'",
        "datalist": "$list(sorted(glob.glob(@dataset_dir + '/*.nii*')))",
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
        "handlers": [
            {
                "_target_": "CheckpointLoader",
                "load_path": "$@bundle_root + '/models/model.pt'",
                "load_dict": {"model": "@network"},
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


def tiny_bundle(
    folder: Path,
    name: str = "tiny_zoo",
    *,
    fmt: str = "json",
    labels: list[str] | None = None,
    config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    scripts: dict[str, str] | None = None,
    seed: int = 0,
) -> Path:
    """`folder/name`: a MONAI bundle as a model-zoo author writes one (configs in `fmt`:
    "json" or "yaml"), random weights from its network_def."""
    labels = labels or ["liver", "spleen"]
    root = folder / name
    (root / "configs").mkdir(parents=True)
    config = config if config is not None else tiny_inference_config(len(labels) + 1)
    if fmt == "json":
        (root / "configs" / "inference.json").write_text(json.dumps(config, indent=2))
    else:
        (root / "configs" / "inference.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "configs" / "metadata.json").write_text(
        json.dumps(metadata if metadata is not None else tiny_metadata(labels), indent=2)
    )
    for relative, text in (scripts or {}).items():
        (root / "scripts").mkdir(exist_ok=True)
        (root / "scripts" / relative).write_text(text)
    random_weights(root, seed=seed)
    return root


def run_monai_bundle(
    bundle: Path, image: Path | list[Path], output: Path, overrides: dict[str, Any]
) -> Path:
    """`python -m monai.bundle run` (its Python entry point) on one image: the bundle's own
    workflow, with its dataset pointed at `image` and its writer at `output`; returns the one
    file it wrote. `overrides` names the bundle's own datalist item (each bundle has its own)."""
    from monai.bundle import run

    config = next(p for p in (bundle / "configs").iterdir() if p.stem == "inference")
    logging_file = bundle / "configs" / "logging.conf"
    with _logging_restored():
        run(
            run_id="run",
            init_id="initialize",
            config_file=str(config),
            meta_file=str(bundle / "configs" / "metadata.json"),
            logging_file=str(logging_file) if logging_file.is_file() else None,
            bundle_root=str(bundle),
            output_dir=str(output),
            **{"dataloader#num_workers": 0, **overrides},
        )
    (written,) = sorted(p for p in output.rglob("*.nii*"))
    return written


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """`monai.bundle run` configures logging from the bundle's `logging.conf` (a handler on the
    stderr of the moment, which pytest closes after the test): put every logger back as it was,
    or later tests' log records meet a closed stream."""
    loggers = [
        logging.getLogger(),
        *(logging.getLogger(n) for n in logging.root.manager.loggerDict),
    ]
    saved = [(lg, list(lg.handlers), lg.level, lg.disabled, lg.propagate) for lg in loggers]
    try:
        yield
    finally:
        for lg, handlers, level, disabled, propagate in saved:
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.disabled, lg.propagate = disabled, propagate
        known = {id(lg) for lg in loggers}
        for name in list(logging.root.manager.loggerDict):
            added = logging.root.manager.loggerDict[name]
            if isinstance(added, logging.Logger) and id(added) not in known:
                added.handlers.clear()
