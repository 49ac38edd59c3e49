"""The trained classifier as a MONAI bundle (written whole or not at all through
`containers.common.step.staged_output`).

    configs/metadata.json    MONAI metadata; `network_data_format.outputs.pred.channel_def`
                             names the classes in output order; our record under CLASSIFIER_KEY
    configs/inference.json   NIfTI files in `dataset_dir` → class probabilities (MONAI transforms
                             spelling the step's preprocessing)
    models/model.pt          the best fold's state dict; models/fold_K/model.pt with folds > 1
    report/training.json     per-fold figures and each held-out session's probabilities
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from containers.classify.cases import Preprocessing
from containers.classify.networks import network_def
from containers.classify.trainer import FoldResult

METADATA_SCHEMA = (
    "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/"
    "meta_schema_20220324.json"
)
CLASSIFIER_KEY = "xnat_monai_classifier"
VERSION = "0.1.0"


def class_names(metadata: Mapping[str, Any]) -> list[str]:
    """The classes of a classification bundle in output order, from its metadata's
    `network_data_format.outputs.pred.channel_def` (ours and the model zoo's alike)."""
    outputs: dict[str, Any] = metadata.get("network_data_format", {}).get("outputs", {})
    first: dict[str, Any] = next(iter(outputs.values()), {})
    channel_def: dict[str, Any] = first.get("channel_def", {})
    return [str(channel_def[k]) for k in sorted(channel_def, key=int)]


def classifier_metadata(
    model_name: str,
    network: str,
    classes: Sequence[str],
    preprocessing: Preprocessing,
    training: dict[str, Any],
) -> dict[str, Any]:
    import monai
    import numpy

    return {
        "schema": METADATA_SCHEMA,
        "version": VERSION,
        "changelog": {VERSION: "trained with xnat-monai"},
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": numpy.__version__,
        "name": model_name,
        "task": f"CT classification: {', '.join(classes)}",
        "description": f"{network} classifier of a CT session into {', '.join(classes)} "
        "(xnat-monai classify train)",
        "authors": "xnat-monai classify train",
        "copyright": "see the project that trained it",
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "hounsfield",
                    "modality": "CT",
                    "num_channels": 1,
                    "spatial_shape": list(preprocessing.roi_size),
                    "dtype": "float32",
                    "value_range": [0, 1],
                    "is_patch_data": False,
                    "channel_def": {"0": "image"},
                }
            },
            "outputs": {
                "pred": {
                    "type": "probabilities",
                    "format": "classes",
                    "num_channels": len(classes),
                    "spatial_shape": [1, len(classes)],
                    "dtype": "float32",
                    "value_range": [0, 1],
                    "is_patch_data": False,
                    "channel_def": {str(i): name for i, name in enumerate(classes)},
                }
            },
        },
        CLASSIFIER_KEY: {
            "network": network,
            "classes": list(classes),
            "preprocessing": preprocessing.as_dict(),
            "training": training,
        },
    }


def inference_config(network: str, classes: Sequence[str], prep: Preprocessing) -> dict[str, Any]:
    """configs/inference.json: NIfTI files in `dataset_dir` → class probabilities."""
    return {
        "imports": ["$import glob", "$import os"],
        "bundle_root": ".",
        "output_dir": "$@bundle_root + '/eval'",
        "dataset_dir": "$@bundle_root + '/data'",
        "datalist": "$list(sorted(glob.glob(@dataset_dir + '/*.nii*')))",
        "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "num_classes": len(classes),
        "network_def": network_def(network, len(classes)),
        "network": "$@network_def.to(@device)",
        "preprocessing": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "LoadImaged", "keys": "image"},
                {"_target_": "EnsureChannelFirstd", "keys": "image"},
                {"_target_": "Orientationd", "keys": "image", "axcodes": prep.orientation},
                {
                    "_target_": "Spacingd",
                    "keys": "image",
                    "pixdim": list(prep.spacing),
                    "mode": "bilinear",
                },
                {
                    "_target_": "ScaleIntensityRanged",
                    "keys": "image",
                    "a_min": prep.window.a_min,
                    "a_max": prep.window.a_max,
                    "b_min": 0.0,
                    "b_max": 1.0,
                    "clip": True,
                },
                *(
                    [{"_target_": "CropForegroundd", "keys": "image", "source_key": "image"}]
                    if prep.crop == "body"
                    else []
                ),
                {
                    "_target_": "ResizeWithPadOrCropd",
                    "keys": "image",
                    "spatial_size": list(prep.roi_size),
                },
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
        "inferer": {"_target_": "SimpleInferer"},
        "postprocessing": {
            "_target_": "Compose",
            "transforms": [{"_target_": "Activationsd", "keys": "pred", "softmax": True}],
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


def write_classifier_bundle(
    folder: Path,
    model_name: str,
    network: str,
    classes: Sequence[str],
    preprocessing: Preprocessing,
    results: Sequence[FoldResult],
    training: dict[str, Any],
) -> Path:
    """The whole bundle in `folder` (a staging folder: see `staged_output`)."""
    configs, models, report = folder / "configs", folder / "models", folder / "report"
    for part in (configs, models, report):
        part.mkdir(parents=True, exist_ok=True)
    metadata = classifier_metadata(model_name, network, classes, preprocessing, training)
    (configs / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    config = inference_config(network, classes, preprocessing)
    (configs / "inference.json").write_text(json.dumps(config, indent=2) + "\n")
    best = max(range(len(results)), key=lambda k: results[k].best_score)
    torch.save(results[best].best_state, models / "model.pt")
    if len(results) > 1:
        for result in results:
            (models / f"fold_{result.index}").mkdir()
            torch.save(result.best_state, models / f"fold_{result.index}" / "model.pt")
    folds = [
        {
            "fold": r.index,
            "best_epoch": r.best_epoch,
            "best": r.best_record,
            "class_weights": r.class_weights,
            "train_sessions": r.train_sessions,
            "validation_sessions": r.validation_sessions,
            "validation_probabilities": r.validation_probabilities,
            "resumed_from_epoch": r.resumed_from_epoch,
            "stopped_early": r.stopped_early,
            "history": [vars(h) for h in r.history],
        }
        for r in results
    ]
    (report / "training.json").write_text(
        json.dumps({"classes": list(classes), "primary_fold": best, "folds": folds}, indent=2)
        + "\n"
    )
    return folder
