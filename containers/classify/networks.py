"""The classification networks a bundle may name: one registry, used at train and infer time.

Each name maps to a MONAI class and the constructor arguments that make it the named network
(MONAI spells the class count and input channels differently per class). A bundle stores the
MONAI class path and the whole argument set in `configs/inference.json` (`network_def`), so
MONAI's `ConfigParser` rebuilds the same module without this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xnat_plugin.errors import UserError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ClassifierKind:
    target: str  # the MONAI class, as a bundle's `_target_`
    arguments: Callable[[int, int], dict[str, Any]]  # (in channels, classes) → kwargs


CLASSIFIERS: dict[str, ClassifierKind] = {
    "DenseNet121": ClassifierKind(
        "monai.networks.nets.DenseNet121",
        lambda channels, classes: {
            "spatial_dims": 3,
            "in_channels": channels,
            "out_channels": classes,
        },
    ),
    # ResNet-18: basic blocks, two per stage (MONAI's `resnet18` with its defaults).
    "ResNet18": ClassifierKind(
        "monai.networks.nets.ResNet",
        lambda channels, classes: {
            "block": "basic",
            "layers": [2, 2, 2, 2],
            "block_inplanes": [64, 128, 256, 512],
            "spatial_dims": 3,
            "n_input_channels": channels,
            "num_classes": classes,
        },
    ),
    "EfficientNetB0": ClassifierKind(
        "monai.networks.nets.EfficientNetBN",
        lambda channels, classes: {
            "model_name": "efficientnet-b0",
            "pretrained": False,  # ImageNet weights are 2-D and would be downloaded
            "spatial_dims": 3,
            "in_channels": channels,
            "num_classes": classes,
        },
    ),
}
CLASSIFIER_NAMES = tuple(CLASSIFIERS)


def check_classifier_name(name: str) -> str:
    if name not in CLASSIFIERS:
        raise UserError(
            f"unknown classification network {name!r}: choose one of {', '.join(CLASSIFIER_NAMES)}"
        )
    return name


def network_def(name: str, classes: int, in_channels: int = 1) -> dict[str, Any]:
    """The bundle's `network_def`: `_target_` and every argument of network `name`."""
    kind = CLASSIFIERS[check_classifier_name(name)]
    return {"_target_": kind.target, **kind.arguments(in_channels, classes)}


def build_classifier(name: str, classes: int, in_channels: int = 1) -> torch.nn.Module:
    """Network `name` for `classes` classes, built as a bundle's `network_def` builds it."""
    import importlib

    definition = network_def(name, classes, in_channels)
    module, _, attribute = definition.pop("_target_").rpartition(".")
    return getattr(importlib.import_module(module), attribute)(**definition)  # type: ignore[no-any-return]
