"""What a bundle says about its model: network, loss, labels, grid, intensity normalisation,
sliding window, codes.

`BundleSpec` is stored whole in `configs/metadata.json` (under "xnat_monai") and is all the
steps need to rebuild, feed and describe a model. `configs/inference.json` is generated from it
(`bundle_configs.inference_config`), and the sliding-window settings it states are the ones the
step's own infer uses: both read `BundleSpec.sliding_window()`.

A bundle written before a field was recorded still loads: `fields_defaulted` names what it
lacks, and the reader says so in one line.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator, model_validator

from containers.common.losses import DEFAULT_LOSS, check_loss_name, loss_kwargs
from containers.common.networks import build_network, check_network_name, default_kwargs
from containers.common.segment_codes import GENERIC_CODES, TISSUE, SegmentCodes, segment_codes_for
from xnat_plugin.errors import UserError

if TYPE_CHECKING:  # a spec is read and checked without torch; only build_network needs it
    import torch


def default_segment_codes(label: str) -> SegmentCodes:
    """SNOMED CT codes for a known structure, else the generic "Tissue" pair."""
    return segment_codes_for(label)


class CTWindow(BaseModel):
    """Clip intensities to [a_min, a_max] and scale to [0, 1] (MONAI ScaleIntensityRange)."""

    kind: Literal["ct_window"] = "ct_window"
    a_min: float = -175.0
    a_max: float = 250.0

    @model_validator(mode="after")
    def _ordered(self) -> CTWindow:
        if self.a_max <= self.a_min:
            raise ValueError(f"a_max ({self.a_max}) must exceed a_min ({self.a_min})")
        return self

    def apply(self, volume: np.ndarray, *, in_place: bool = False) -> np.ndarray:
        """Scaled to [0, 1]; `in_place` overwrites a float32 `volume` instead of copying."""
        if in_place and volume.dtype == np.float32:
            scaled = np.subtract(volume, np.float32(self.a_min), out=volume)
            np.divide(scaled, np.float32(self.a_max - self.a_min), out=scaled)
        else:
            scaled = (volume - np.float32(self.a_min)) / np.float32(self.a_max - self.a_min)
        return np.clip(scaled, 0.0, 1.0, out=scaled).astype(np.float32, copy=False)


class ZScore(BaseModel):
    """Subtract `mean` and divide by `std` (fixed values from training, not per image)."""

    kind: Literal["zscore"] = "zscore"
    mean: float = 0.0
    std: float = 1.0

    @field_validator("std")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("std must be positive")
        return value

    def apply(self, volume: np.ndarray, *, in_place: bool = False) -> np.ndarray:
        """Standardised; `in_place` overwrites a float32 `volume` instead of copying."""
        if in_place and volume.dtype == np.float32:
            np.subtract(volume, np.float32(self.mean), out=volume)
            return np.divide(volume, np.float32(self.std), out=volume)
        return ((volume - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32)


Normalization = Annotated[CTWindow | ZScore, Field(discriminator="kind")]


class NetworkSpec(BaseModel):
    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        try:
            return check_network_name(value)
        except UserError as exc:
            raise ValueError(str(exc)) from exc


class LossSpec(BaseModel):
    """The training loss by its name in `containers.common.losses`, with its full kwargs."""

    name: str = DEFAULT_LOSS
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        try:
            return check_loss_name(value)
        except UserError as exc:
            raise ValueError(str(exc)) from exc

    @model_validator(mode="after")
    def _full(self) -> LossSpec:
        # The whole set, the registry's defaults included: a later default cannot change it.
        self.kwargs = loss_kwargs(self.name, self.kwargs)
        return self


class InfererSpec(BaseModel):
    """How infer slides the network over a volume; the window is the spec's `patch_size`."""

    overlap: float = Field(default=0.25, ge=0.0, lt=1.0)
    # Windows per forward pass: a speed/memory setting that changes no result. On a CUDA GPU
    # the step picks what its free memory holds unless `--sw-batch-size` is given.
    sw_batch_size: int = Field(default=1, ge=1)
    mode: Literal["gaussian"] = "gaussian"


# Fields a bundle written by an older xnat-monai may lack, with what they mean when missing.
_LATER_FIELDS = {
    "loss": f"loss {DEFAULT_LOSS}",
    "inferer": "overlap 0.25, 1 window per pass",
}


def fields_defaulted(stored: dict[str, Any]) -> list[str]:
    """What a stored spec (the "xnat_monai" block) lacks and is read with defaults for."""
    missing = [
        f"{name} ({meaning})" for name, meaning in _LATER_FIELDS.items() if name not in stored
    ]
    network = stored.get("network")
    if isinstance(network, dict) and not network.get("kwargs"):
        missing.append("network kwargs (this project's defaults for the network)")
    return missing


class BundleSpec(BaseModel):
    """Everything needed to rebuild, feed and describe a model."""

    model_name: str
    version: str = "0.1.0"
    description: str = "3-D segmentation trained on an XNAT project"
    authors: str = "xnat-monai"
    network: NetworkSpec
    loss: LossSpec = Field(default_factory=LossSpec)
    in_channels: int = 1
    modality: str = "CT"
    labels: dict[str, int]  # name → value in the label map; 0 is background
    spacing: tuple[float, float, float] = (1.5, 1.5, 2.0)
    orientation: str = "RAS"
    normalization: Normalization = Field(default_factory=CTWindow)
    patch_size: tuple[int, int, int] = (96, 96, 96)
    inferer: InfererSpec = Field(default_factory=InfererSpec)
    segment_codes: dict[str, SegmentCodes] = Field(default_factory=dict)
    # How many separate pieces each label has in the training references (2 for "kidney" when
    # both kidneys share a label); the clean-up keeps that many largest islands, 1 when unset.
    components: dict[str, int] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)

    @field_validator("model_name")
    @classmethod
    def _folder_safe(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
            raise ValueError(f"model name {value!r} must be letters, digits, '_', '.', '-'")
        return value

    @field_validator("spacing")
    @classmethod
    def _spacing_is_positive(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        # The one place a bundle's voxel spacing is read: the model grid divides by it.
        if not all(np.isfinite(v) and v > 0 for v in value):
            raise ValueError(f"spacing {list(value)} must be three finite positive numbers of mm")
        return value

    @field_validator("labels")
    @classmethod
    def _labels_are_1_to_n(cls, value: dict[str, int]) -> dict[str, int]:
        if not value:
            raise ValueError("a bundle needs at least one label")
        if sorted(value.values()) != list(range(1, len(value) + 1)):
            raise ValueError(f"label values must be 1..{len(value)} (0 is background): {value}")
        return value

    @field_validator("orientation")
    @classmethod
    def _axcodes(cls, value: str) -> str:
        if not _is_axcodes(value.upper()):
            raise ValueError(f"orientation {value!r} is not three axis codes like RAS or LPS")
        return value.upper()

    @model_validator(mode="after")
    def _whole_network(self) -> BundleSpec:
        # Never `{}`: a bundle that named only its network was built with these defaults.
        if not self.network.kwargs:
            self.network.kwargs = default_kwargs(self.network.name, self.patch_size)
        return self

    @model_validator(mode="after")
    def _fill_codes(self) -> BundleSpec:
        for name in self.labels:
            codes = self.segment_codes.get(name)
            # Bundles written before codes were checked paired "Tissue"'s code with the label
            # as its meaning, which is not a valid coded concept: read those as the generic pair.
            if codes is not None and codes.type.value == TISSUE.value and codes.type != TISSUE:
                codes = GENERIC_CODES
            self.segment_codes[name] = codes or default_segment_codes(name)
        return self

    @property
    def out_channels(self) -> int:
        return len(self.labels) + 1

    @property
    def labels_by_value(self) -> dict[int, str]:
        return {value: name for name, value in self.labels.items()}

    def network_kwargs(self) -> dict[str, Any]:
        return {**default_kwargs(self.network.name, self.patch_size), **self.network.kwargs}

    def sliding_window(self) -> dict[str, Any]:
        """The sliding-window inferer's settings: inference.json's "inferer" block states them
        and the step's own infer runs with them (one function, so the two cannot drift)."""
        return {
            "roi_size": list(self.patch_size),
            "sw_batch_size": self.inferer.sw_batch_size,
            "overlap": self.inferer.overlap,
            "mode": self.inferer.mode,
        }

    def build_network(self) -> torch.nn.Module:
        return build_network(
            self.network.name,
            self.in_channels,
            self.out_channels,
            self.patch_size,
            **self.network.kwargs,
        )


def _is_axcodes(value: str) -> bool:
    pairs = [set("LR"), set("AP"), set("SI")]
    return len(value) == 3 and all(sum(c in p for c in value) == 1 for p in pairs)
