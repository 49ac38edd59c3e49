"""MONAI bundles: the model format every step shares.

Layout (MONAI's bundle convention)::

    <model-name>/configs/metadata.json    MONAI metadata + our `BundleSpec` under "xnat_monai"
    <model-name>/configs/inference.json   runnable by `python -m monai.bundle run`
    <model-name>/models/model.pt          state dict (the primary / only model)
    <model-name>/models/fold_K/model.pt   one state dict per fold for fold ensembles

Weights are read with `torch.load(..., weights_only=True)`: a bundle from a project resource is
data, never code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import monai
import numpy as np
import torch
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from containers.common.networks import build_network, check_network_name, default_kwargs
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

METADATA_SCHEMA = (
    "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/"
    "0.8.1/meta_schema_20220324.json"
)
SPEC_KEY = "xnat_monai"


class CodedConcept(BaseModel):
    """A coded concept (value, scheme, meaning) as DICOM SEG stores it."""

    value: str
    scheme: str = "SCT"
    meaning: str


class SegmentCodes(BaseModel):
    """SNOMED CT category and type of one label, for the DICOM SEG's segment description."""

    category: CodedConcept
    type: CodedConcept


_ANATOMICAL_STRUCTURE = CodedConcept(value="123037004", meaning="Anatomical Structure")
KNOWN_ORGAN_CODES: dict[str, SegmentCodes] = {
    "liver": SegmentCodes(
        category=_ANATOMICAL_STRUCTURE, type=CodedConcept(value="10200004", meaning="Liver")
    ),
    "spleen": SegmentCodes(
        category=_ANATOMICAL_STRUCTURE, type=CodedConcept(value="78961009", meaning="Spleen")
    ),
    "kidney": SegmentCodes(
        category=_ANATOMICAL_STRUCTURE, type=CodedConcept(value="64033007", meaning="Kidney")
    ),
}
_TISSUE = CodedConcept(value="85756007", meaning="Tissue")


def default_segment_codes(label: str) -> SegmentCodes:
    """SNOMED codes for a known organ, else the generic "Tissue" with the label as meaning."""
    known = KNOWN_ORGAN_CODES.get(label.lower())
    if known is not None:
        return known
    return SegmentCodes(category=_TISSUE, type=CodedConcept(value="85756007", meaning=label))


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

    def apply(self, volume: np.ndarray) -> np.ndarray:
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

    def apply(self, volume: np.ndarray) -> np.ndarray:
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


class BundleSpec(BaseModel):
    """Everything needed to rebuild, feed and describe a model."""

    model_name: str
    version: str = "0.1.0"
    description: str = "3-D segmentation trained on an XNAT project"
    authors: str = "xnat-monai"
    network: NetworkSpec
    in_channels: int = 1
    modality: str = "CT"
    labels: dict[str, int]  # name → value in the label map; 0 is background
    spacing: tuple[float, float, float] = (1.5, 1.5, 2.0)
    orientation: str = "RAS"
    normalization: Normalization = Field(default_factory=CTWindow)
    patch_size: tuple[int, int, int] = (96, 96, 96)
    segment_codes: dict[str, SegmentCodes] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)

    @field_validator("model_name")
    @classmethod
    def _folder_safe(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
            raise ValueError(f"model name {value!r} must be letters, digits, '_', '.', '-'")
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
    def _fill_codes(self) -> BundleSpec:
        for name in self.labels:
            self.segment_codes.setdefault(name, default_segment_codes(name))
        return self

    @property
    def out_channels(self) -> int:
        return len(self.labels) + 1

    @property
    def labels_by_value(self) -> dict[int, str]:
        return {value: name for name, value in self.labels.items()}

    def network_kwargs(self) -> dict[str, Any]:
        return {**default_kwargs(self.network.name, self.patch_size), **self.network.kwargs}

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


@dataclass
class Bundle:
    """A loaded bundle: its spec, one state dict per ensemble member, and a checksum."""

    root: Path
    spec: BundleSpec
    state_dicts: list[dict[str, torch.Tensor]] = field(repr=False)
    member_names: list[str]
    checksum: str  # sha256 over every weights file, in member order

    def build_models(self, device: torch.device | str = "cpu") -> list[torch.nn.Module]:
        """One network per ensemble member, weights loaded, in eval mode on `device`."""
        models = []
        for name, state in zip(self.member_names, self.state_dicts, strict=True):
            network = self.spec.build_network()
            try:
                network.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                first = _first_line(exc)
                raise UserError(
                    f"weights {name} in bundle {self.root} do not fit its network "
                    f"{self.spec.network.name} ({first}); re-train or fix configs/metadata.json"
                ) from exc
            models.append(network.to(device).eval())
        return models

    def check_fits(self, *, labels: Mapping[str, int] | None = None, in_channels: int = 1) -> None:
        """Refuse when the caller's labels or input channels differ from the bundle's."""
        if in_channels != self.spec.in_channels:
            raise UserError(
                f"bundle {self.spec.model_name} takes {self.spec.in_channels} input channel(s) "
                f"but the input has {in_channels}; choose a model trained on this kind of image"
            )
        if labels is not None and dict(labels) != self.spec.labels:
            raise UserError(
                f"bundle {self.spec.model_name} segments {self.spec.labels} but "
                f"{dict(labels)} was asked for; choose a model with these labels or re-train"
            )


def save_bundle(
    directory: Path | str,
    spec: BundleSpec,
    state_dicts: Sequence[Mapping[str, torch.Tensor]] | Mapping[str, torch.Tensor],
    *,
    primary: int = 0,
) -> Path:
    """Write a bundle to `directory` (created); several state dicts become fold members.

    `models/model.pt` always exists (the `primary` member), so `monai.bundle run` works.
    """
    root = Path(directory)
    if isinstance(state_dicts, Mapping):
        state_dicts = [state_dicts]
    if not state_dicts:
        raise ValueError("save_bundle needs at least one state dict")
    (root / "configs").mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(parents=True, exist_ok=True)
    for old in (root / "models").glob("fold_*/model.pt"):
        old.unlink()
    torch.save(_cpu(state_dicts[primary]), root / "models" / "model.pt")
    if len(state_dicts) > 1:
        for k, state in enumerate(state_dicts):
            (root / "models" / f"fold_{k}").mkdir(exist_ok=True)
            torch.save(_cpu(state), root / "models" / f"fold_{k}" / "model.pt")
    (root / "configs" / "metadata.json").write_text(
        json.dumps(monai_metadata(spec), indent=2) + "\n"
    )
    (root / "configs" / "inference.json").write_text(
        json.dumps(inference_config(spec), indent=2) + "\n"
    )
    log.info("wrote bundle %s (%d model file(s))", root, len(state_dicts))
    return root


def _cpu(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in state.items()}


def load_bundle(directory: Path | str) -> Bundle:
    """Read a bundle folder; refuses a missing or inconsistent one with the reason."""
    root = Path(directory)
    metadata_path = root / "configs" / "metadata.json"
    if not metadata_path.is_file():
        raise UserError(
            f"{root} is not a MONAI bundle: configs/metadata.json is missing; "
            "give the model's folder under MONAI_MODELS"
        )
    try:
        metadata = json.loads(metadata_path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{metadata_path} is not valid JSON: {exc}") from exc
    spec = spec_from_metadata(metadata, metadata_path)
    members = sorted(
        (root / "models").glob("fold_*/model.pt"), key=lambda p: int(p.parent.name[5:])
    )
    if not members:
        members = [root / "models" / "model.pt"]
    if not members[0].is_file():
        raise UserError(f"bundle {root} has no weights: models/model.pt is missing")
    digest = hashlib.sha256()
    states = []
    for path in members:
        data = path.read_bytes()
        digest.update(data)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise UserError(
                f"cannot load weights {path}: {_first_line(exc)}; only plain state "
                "dicts (torch.save(model.state_dict())) are accepted"
            ) from exc
        if not isinstance(state, dict):
            raise UserError(f"{path} holds a {type(state).__name__}, not a state dict")
        states.append(state)
    return Bundle(
        root=root,
        spec=spec,
        state_dicts=states,
        member_names=[str(p.relative_to(root)) for p in members],
        checksum=digest.hexdigest(),
    )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def spec_from_metadata(metadata: dict[str, Any], where: Path) -> BundleSpec:
    """Our spec from the metadata's "xnat_monai" block, checked against MONAI's channel_def."""
    if SPEC_KEY not in metadata:
        raise UserError(
            f"{where} has no '{SPEC_KEY}' block: this bundle was not written by xnat-monai "
            "train, so its network, labels and preprocessing are unknown"
        )
    try:
        spec = BundleSpec.model_validate(metadata[SPEC_KEY])
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise UserError(f"{where} describes an invalid model: {problems}") from exc
    outputs = metadata.get("network_data_format", {}).get("outputs", {})
    pred = next(iter(outputs.values()), None)
    if pred is not None:
        channel_def = {int(k): v for k, v in pred.get("channel_def", {}).items()}
        expected = {0: "background", **spec.labels_by_value}
        if channel_def and channel_def != expected:
            raise UserError(
                f"{where}: output channels {channel_def} disagree with labels {spec.labels}"
            )
    inputs = metadata.get("network_data_format", {}).get("inputs", {})
    image = next(iter(inputs.values()), None)
    if image is not None and int(image.get("num_channels", spec.in_channels)) != spec.in_channels:
        raise UserError(
            f"{where}: input num_channels {image.get('num_channels')} disagrees with "
            f"in_channels {spec.in_channels}"
        )
    return spec


def monai_metadata(spec: BundleSpec) -> dict[str, Any]:
    """configs/metadata.json in MONAI's convention, with our full spec under "xnat_monai"."""
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
        "inferer": {
            "_target_": "SlidingWindowInferer",
            "roi_size": list(spec.patch_size),
            "sw_batch_size": 2,
            "overlap": 0.25,
            "mode": "gaussian",
        },
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
