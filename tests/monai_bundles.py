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


def calibrated_weights(
    bundle: Path,
    images: Path | list[Path],
    *,
    overrides: dict[str, Any] | None = None,
    sigmoid: bool = False,
    shares: list[float] | None = None,
) -> list[float]:
    """Rewrite the bundle's models/model.pt so that its prediction on `images` is not trivial.

    Random weights predict nearly one class everywhere, and two pipelines then agree on the
    label map whatever either did with the scan. Here the bundle's own preprocessing, inferer
    and network (MONAI's ConfigParser; `overrides` as `monai.bundle run` takes them) give the
    network's outputs on the image, and the biases of its output layer are moved so that each
    output channel wins the argmax (with `sigmoid`: is on) on `shares` of the model grid's
    voxels (default: equal shares; 0.3 each with `sigmoid`). The other weights stay random, so
    the split follows the image as far as random filters do. Returns the shares reached.
    """
    import torch
    from monai.bundle import ConfigParser
    from monai.data import list_data_collate

    parser = ConfigParser()
    parser.read_config(str(_inference_config(bundle)))
    parser.read_meta(str(bundle / "configs" / "metadata.json"))
    parser.update({"bundle_root": str(bundle), **(overrides or {})})
    files = images if isinstance(images, list) else [images]
    weights = bundle / "models" / "model.pt"
    with _bundle_on_path(bundle):
        network = parser.get_parsed_content("network_def")
        preprocessing = parser.get_parsed_content("preprocessing")
        inferer = parser.get_parsed_content("inferer")
        network.load_state_dict(torch.load(weights, weights_only=True))
        network.eval()
        key = next(
            str(t.keys[0]) for t in preprocessing.transforms if type(t).__name__ == "LoadImaged"
        )
        item = preprocessing({key: str(files[0]) if len(files) == 1 else [str(f) for f in files]})
    inputs = list_data_collate([item])[key]
    with torch.no_grad():
        outputs = inferer(inputs, network)[0].float()
    channels = outputs.shape[0]
    flat = outputs.reshape(channels, -1)
    if sigmoid:
        targets = torch.tensor(shares or [0.3] * channels)
        offsets = torch.stack([-torch.quantile(flat[c], 1 - targets[c]) for c in range(channels)])
    else:
        targets = torch.tensor(shares or [1 / channels] * channels)
        offsets = _argmax_offsets(flat, targets)
    bias = _output_bias(network, inputs, channels)
    with torch.no_grad():
        bias += offsets.to(bias.dtype)
    torch.save(network.state_dict(), weights)
    moved = flat + offsets[:, None]
    if sigmoid:
        return [float(s) for s in (moved > 0).float().mean(dim=1)]
    won = torch.bincount(moved.argmax(dim=0), minlength=channels)
    return [float(s) for s in won / moved.shape[1]]


def _argmax_offsets(flat: Any, targets: Any) -> Any:
    """Per-channel offsets with which channel c wins the argmax on about targets[c] of the
    columns of `flat` (channels, voxels): each channel in turn gets the offset that gives it
    its share against the best of the others, until the offsets settle."""
    import torch

    offsets = torch.zeros(flat.shape[0])
    for _ in range(50):
        before = offsets.clone()
        for c in range(flat.shape[0]):
            others = torch.cat(
                [flat[:c] + offsets[:c, None], flat[c + 1 :] + offsets[c + 1 :, None]]
            )
            margin = others.max(dim=0).values - flat[c]
            offsets[c] = torch.quantile(margin, float(targets[c]))
        offsets -= offsets[0].clone()
        if torch.allclose(offsets, before, atol=1e-6):
            break
    return offsets


def _output_bias(network: Any, inputs: Any, channels: int) -> Any:
    """The bias that adds straight onto the network's output (the last one of `channels`
    values for which moving it moves every output voxel by the same amount)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    probe = torch.randn((1, inputs.shape[1], *[32] * (inputs.ndim - 2)), generator=generator)
    step = torch.arange(1, channels + 1, dtype=torch.float32)
    candidates = [
        p
        for name, p in network.named_parameters()
        if name.endswith("bias") and p.shape == (channels,)
    ]
    with torch.no_grad():
        before = network(probe)
        for bias in reversed(candidates):
            bias += step
            shifted = network(probe) - before
            bias -= step
            expected = step.reshape(1, channels, *([1] * (shifted.ndim - 2)))
            if torch.allclose(shifted, expected.expand_as(shifted), atol=1e-4):
                return bias
    raise AssertionError(f"{type(network).__name__}: no bias adds onto its {channels} outputs")


def _inference_config(bundle: Path) -> Path:
    return next(
        p for p in (bundle / "configs").iterdir() if p.stem == "inference" and p.suffix != ".trt"
    )


@contextlib.contextmanager
def _bundle_on_path(bundle: Path) -> Iterator[None]:
    """The bundle's `scripts/` importable as `scripts.<module>`, as `monai.bundle run` does."""
    import sys

    sys.path.insert(0, str(bundle))
    try:
        yield
    finally:
        sys.path.remove(str(bundle))
        for name in [n for n in sys.modules if n == "scripts" or n.startswith("scripts.")]:
            del sys.modules[name]


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
