"""Which model the infer step runs, and how: our train step's bundles or any MONAI bundle.

- A bundle our train step wrote (its metadata has the "xnat_monai" block) runs on the step's own
  pipeline (`containers.infer.native`): fold ensembles, flip TTA, clean-up by components.
- Any other MONAI bundle runs its own pipeline (`containers.infer.bundle_run`), built from its
  inference config by MONAI's ConfigParser under the site's trust rule
  (`containers.common.bundle_trust`), with its weights from `models/model.pt`.

Either way the labels, their codes and the input channels come from the bundle's metadata.
`describe_model` reads only that (no torch, no MONAI: the step reads its scans meanwhile);
`load_native` / `load_pipeline` do the heavy part in the background.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from containers.common.segment_codes import SegmentCodes, segment_codes_for
from xnat_plugin.errors import UserError
from xnat_plugin.models.layout import (
    METADATA,
    SPEC_KEY,
    BundleFormat,
    bundle_format,
    read_metadata,
    weight_files,
)

if TYPE_CHECKING:
    import torch

    from containers.common.bundle import Bundle
    from containers.common.bundle_pipeline import BundlePipeline
    from containers.common.bundle_spec import BundleSpec

log = logging.getLogger(__name__)


@dataclass
class ModelDescription:
    """What the metadata says: enough to read the right scans and name the segments."""

    root: Path
    name: str
    version: str
    format: BundleFormat
    segment_codes: dict[str, SegmentCodes]
    spec: BundleSpec | None = None  # our train step's bundles only
    overrides: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def native(self) -> bool:
        return self.spec is not None

    @property
    def labels(self) -> dict[str, int]:
        return self.format.labels


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`ID=VALUE` pairs in MONAI's override syntax (`inferer::roi_size=[64,64,64]`); a value
    is read as JSON when it parses, else kept as a string."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"override {pair!r} is not ID=VALUE, e.g. inferer::roi_size=[96,96,96]")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value
    return overrides


def describe_model(root: Path, *, overrides: Mapping[str, Any] | None = None) -> ModelDescription:
    """The bundle's metadata: ours (the full spec) or any MONAI bundle's network_data_format."""
    metadata = read_metadata(root)
    if SPEC_KEY in metadata:
        from containers.common.bundle import spec_from_metadata

        if overrides:
            raise UserError(
                f"bundle overrides apply to MONAI bundles' configs; model {root.name} was "
                "trained by xnat-monai, whose settings are fixed in its bundle"
            )
        spec = spec_from_metadata(metadata, root / METADATA)
        if "inferer" in metadata[SPEC_KEY]:  # older bundles' inference.json predates it
            from containers.common.bundle_configs import check_inferer_agrees

            check_inferer_agrees(root, spec)
        if spec.in_channels != 1:
            raise UserError(
                f"bundle {spec.model_name} takes {spec.in_channels} input channels; models "
                "trained here take one"
            )
        return ModelDescription(
            root=root,
            name=spec.model_name,
            version=spec.version,
            format=BundleFormat(
                input_channels=("image",),
                modality=spec.modality,
                labels=dict(spec.labels),
                exclusive=True,
                output_channels=spec.out_channels,
            ),
            segment_codes=dict(spec.segment_codes),
            spec=spec,
            metadata=metadata,
        )
    fmt = bundle_format(metadata, root / METADATA)
    return ModelDescription(
        root=root,
        name=root.name,
        version=str(metadata.get("version", "unknown")),
        format=fmt,
        segment_codes={label: segment_codes_for(label) for label in fmt.labels},
        overrides=dict(overrides or {}),
        metadata=metadata,
    )


def load_native(model: ModelDescription, device: torch.device) -> tuple[Bundle, list[Any]]:
    """Our bundle's weights in their networks, in eval mode on `device`."""
    from containers.common.bundle import load_bundle

    bundle = load_bundle(model.root)
    bundle.check_fits(in_channels=1)
    return bundle, bundle.build_models(device, release=True)


def load_pipeline(model: ModelDescription) -> BundlePipeline:
    """The bundle's own network (weights loaded) and transforms, under the trust rule."""
    from containers.common.bundle_pipeline import read_pipeline

    pipeline = read_pipeline(model.root, overrides=model.overrides)
    load_weights(pipeline.network, model.root)
    return pipeline


def model_provenance(
    model: ModelDescription, bundle: Bundle | None, pipeline: BundlePipeline | None
) -> dict[str, Any]:
    """What the report records of the model (the weights' checksum is added by the caller)."""
    if model.spec is not None:
        return {
            "name": model.name,
            "version": model.version,
            "kind": "xnat-monai bundle",
            "network": model.spec.network.name,
            # The window the step slid (as its inference.json states; the windows per pass
            # actually used are in the timings' "windows" count and --sw-batch-size).
            "sliding_window": model.spec.sliding_window(),
            "members": bundle.member_names if bundle is not None else [],
            "training": model.spec.training,
        }
    assert pipeline is not None
    return {
        "name": model.name,
        "version": model.version,
        "kind": "MONAI bundle",
        "title": str(model.metadata.get("name", "")),
        "network": type(pipeline.network).__name__,
        "members": [str(p.relative_to(model.root)) for p in weight_files(model.root)],
        "config": str(pipeline.config_path.relative_to(model.root)),
        "code_sha256": pipeline.trust.code_checksum,
        "trust": pipeline.trust.reason,
        "overrides": pipeline.overrides,
    }


def load_weights(network: Any, root: Path) -> None:
    """models/model.pt into `network`: a state dict, or {"model": state dict} as MONAI's
    CheckpointLoader also accepts; loaded with weights_only=True (data, never code)."""
    import torch

    path = root / "models" / "model.pt"
    if not path.is_file():
        present = (
            {p.name for p in (root / "models").glob("*")} if (root / "models").is_dir() else set()
        )
        hint = " (TorchScript model.ts is code and is not loaded)" if "model.ts" in present else ""
        raise UserError(f"bundle {root.name} has no weights: models/model.pt is missing{hint}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(
            f"cannot load weights {path}: {_first_line(exc)}; only plain state dicts "
            "(torch.save(model.state_dict())) are accepted"
        ) from exc
    if isinstance(state, dict) and set(state) == {"model"} and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise UserError(f"{path} holds a {type(state).__name__}, not a state dict")
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        # torch's first line only says "Error(s) in loading state_dict": the next one says what.
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        first = lines[1] if len(lines) > 1 else lines[0] if lines else type(exc).__name__
        raise UserError(
            f"weights {path} do not fit the bundle's network_def {type(network).__name__} "
            f"({first}); the weights belong to another network or version of the bundle"
        ) from exc


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
