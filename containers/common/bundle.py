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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from containers.common.bundle_configs import SPEC_KEY, inference_config, monai_metadata
from containers.common.bundle_spec import (
    BundleSpec,
    CTWindow,
    NetworkSpec,
    Normalization,
    ZScore,
    default_segment_codes,
    fields_defaulted,
)
from containers.common.segment_codes import CodedConcept, SegmentCodes
from xnat_plugin.errors import UserError

if TYPE_CHECKING:  # imported where weights are read or written: a spec needs no torch
    import torch

__all__ = [
    "Bundle",
    "BundleSpec",
    "CTWindow",
    "CodedConcept",
    "NetworkSpec",
    "Normalization",
    "SegmentCodes",
    "ZScore",
    "default_segment_codes",
    "load_bundle",
    "read_bundle_spec",
    "save_bundle",
    "spec_from_metadata",
]

log = logging.getLogger(__name__)


@dataclass
class Bundle:
    """A loaded bundle: its spec, one state dict per ensemble member, and a checksum."""

    root: Path
    spec: BundleSpec
    state_dicts: list[dict[str, torch.Tensor]] = field(repr=False)
    member_names: list[str]

    @cached_property
    def checksum(self) -> str:
        """sha256 over every weights file, in member order (read on first use: callers may
        compute it while other work runs, e.g. during post-processing)."""
        digest = hashlib.sha256()
        for name in self.member_names:
            with (self.root / name).open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()

    def build_models(
        self, device: torch.device | str = "cpu", *, release: bool = False
    ) -> list[torch.nn.Module]:
        """One network per ensemble member, weights loaded, in eval mode on `device`.

        `release` drops the loaded state dicts once copied into the networks, so the weights
        are held once, not twice (the bundle cannot build models again afterwards).
        """
        if not self.state_dicts:
            raise RuntimeError(f"bundle {self.root}: weights were released after building")
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
        if release:
            self.state_dicts.clear()
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
    import torch

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


def read_bundle_spec(directory: Path | str) -> BundleSpec:
    """A bundle's spec from its configs/metadata.json alone (no weights read, no torch)."""
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
    return spec_from_metadata(metadata, metadata_path)


def load_bundle(directory: Path | str) -> Bundle:
    """Read a bundle folder; refuses a missing or inconsistent one with the reason."""
    import torch

    root = Path(directory)
    spec = read_bundle_spec(root)
    members = sorted(
        (root / "models").glob("fold_*/model.pt"), key=lambda p: int(p.parent.name[5:])
    )
    if not members:
        members = [root / "models" / "model.pt"]
    if not members[0].is_file():
        raise UserError(f"bundle {root} has no weights: models/model.pt is missing")
    states = []
    for path in members:
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
    )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# The bundles whose missing fields were already named in the log (a step reads a spec twice).
_TOLD_DEFAULTED: set[str] = set()


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
    defaulted = fields_defaulted(metadata[SPEC_KEY])
    if defaulted and str(where) not in _TOLD_DEFAULTED:  # once per bundle, however often read
        _TOLD_DEFAULTED.add(str(where))
        log.info(
            "%s was written before bundles recorded %s: read with those defaults",
            where,
            ", ".join(defaulted),
        )
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
