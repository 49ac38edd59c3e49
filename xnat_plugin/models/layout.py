"""A MONAI bundle as files: where its parts are, what its metadata says, its checksums.

Plain Python (no torch, no MONAI), so the admin tool lists and checks bundles on any machine
and the steps read the same facts the same way.

    <name>/configs/metadata.json          MONAI metadata: network_data_format, channel_def
    <name>/configs/inference.json|yaml    the inference workflow (MONAI ConfigParser syntax)
    <name>/scripts/                       optional Python the configs may import
    <name>/models/model.pt                weights (fold_K/model.pt for fold ensembles)

The **code checksum** covers every file but the weights: configs, scripts, docs. It is what a
site trusts (see `containers.common.bundle_trust`): new weights for the same code stay trusted,
any change to what the configs can execute does not.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xnat_plugin.errors import UserError

MODELS_RESOURCE = "MONAI_MODELS"
METADATA = "configs/metadata.json"
INFERENCE_CONFIGS = ("configs/inference.json", "configs/inference.yaml", "configs/inference.yml")
WEIGHTS_DIR = "models"
SCRIPTS_DIR = "scripts"
# Written by `xnat-monai models add` beside the bundle: what was checked, and the checksums.
MODEL_CARD = "xnat-monai-model.json"
# Our train step's block in metadata.json (the full model spec).
SPEC_KEY = "xnat_monai"
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Python leaves these beside imported scripts; they are not part of what was approved.
_NOT_CODE = ("__pycache__", ".DS_Store")


def check_model_name(name: str) -> str:
    """A model name is one folder name under MONAI_MODELS: letters, digits, '_', '.', '-'."""
    if not MODEL_NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise UserError(
            f"model name {name!r} is not allowed: use letters, digits, '_', '.' and '-' "
            "(at most 64, starting with a letter or digit)"
        )
    return name


def weight_files(root: Path) -> list[Path]:
    """The ensemble members (`models/fold_K/model.pt`, in K order), else `models/model.pt`."""
    folds = sorted(
        (root / WEIGHTS_DIR).glob("fold_*/model.pt"),
        key=lambda p: int(p.parent.name[5:]) if p.parent.name[5:].isdigit() else 1 << 30,
    )
    return folds or [root / WEIGHTS_DIR / "model.pt"]


def inference_config_path(root: Path) -> Path | None:
    """configs/inference.json, .yaml or .yml (the first that exists)."""
    for name in INFERENCE_CONFIGS:
        if (root / name).is_file():
            return root / name
    return None


def code_files(root: Path) -> list[Path]:
    """Every file of the bundle except the weights and Python's caches, sorted."""
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or relative.parts[0] in (WEIGHTS_DIR, MODEL_CARD):
            continue
        if any(part in _NOT_CODE for part in relative.parts) or path.suffix == ".pyc":
            continue
        files.append(path)
    return files


def code_checksum(root: Path) -> str:
    """sha256 over each non-weight file's relative path and content, in sorted order."""
    digest = hashlib.sha256()
    for path in code_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
    return digest.hexdigest()


def weights_checksum(root: Path) -> str:
    """sha256 over every weights file, in member order."""
    digest = hashlib.sha256()
    for path in weight_files(root):
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_metadata(root: Path) -> dict[str, Any]:
    """configs/metadata.json as a dict; a missing or broken file is a UserError."""
    path = root / METADATA
    if not path.is_file():
        raise UserError(
            f"{root} is not a MONAI bundle: {METADATA} is missing; give the model's folder "
            f"(the one holding configs/ and models/) under {MODELS_RESOURCE}"
        )
    try:
        metadata = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise UserError(f"{path} must hold a JSON object")
    return metadata


@dataclass(frozen=True)
class BundleFormat:
    """What the metadata's `network_data_format` says about the network's inputs and outputs.

    `exclusive` outputs are classes of which each voxel has one (channel 0 is the background,
    the label map's values are the channels); otherwise every output channel is its own mask
    (sigmoid outputs such as BraTS's overlapping tumour regions).
    """

    input_channels: tuple[str, ...]  # channel_def names in channel order
    modality: str
    labels: dict[str, int]  # segment name → label value (exclusive) or channel index + 1
    exclusive: bool
    output_channels: int


def bundle_format(metadata: dict[str, Any], where: Path | str) -> BundleFormat:
    """Read `network_data_format` (first input, first output) of a segmentation bundle."""
    formats = metadata.get("network_data_format")
    if not isinstance(formats, dict):
        raise UserError(
            f"{where}: metadata has no network_data_format; it is needed to know the "
            "network's input channels and output labels"
        )
    image = _first(formats.get("inputs"), where, "inputs")
    pred = _first(formats.get("outputs"), where, "outputs")
    if pred.get("type", "image") != "image":
        kind = {"object": "detection", "probabilities": "classification"}.get(
            str(pred.get("type")), str(pred.get("type"))
        )
        raise UserError(
            f"{where}: this bundle's output is {pred.get('type')!r} ({kind}), not a "
            "segmentation image; the infer step segments (output type 'image')"
        )
    in_count = _int(image.get("num_channels", 1), where, "inputs num_channels")
    in_def = _channel_def(image.get("channel_def"), where, "inputs")
    input_channels = tuple(in_def.get(c, f"channel {c}") for c in range(in_count))
    out_count = _int(pred.get("num_channels", 1), where, "outputs num_channels")
    out_def = _channel_def(pred.get("channel_def"), where, "outputs")
    names = {c: out_def.get(c, f"label {c}") for c in range(out_count)}
    if len({n.lower() for n in names.values()}) != len(names):
        raise UserError(f"{where}: two output channels share a name: {list(names.values())}")
    exclusive = out_count > 1 and "background" in names[0].lower()
    if exclusive:
        labels = {names[c]: c for c in range(1, out_count)}
    else:
        labels = {names[c]: c + 1 for c in range(out_count)}
    return BundleFormat(
        input_channels=input_channels,
        modality=str(image.get("modality", "")),
        labels=labels,
        exclusive=exclusive,
        output_channels=out_count,
    )


def _first(section: Any, where: Path | str, name: str) -> dict[str, Any]:
    if not isinstance(section, dict) or not section:
        raise UserError(f"{where}: network_data_format has no {name}")
    first = next(iter(section.values()))
    if not isinstance(first, dict):
        raise UserError(f"{where}: network_data_format {name} must describe each tensor")
    return first


def _int(value: Any, where: Path | str, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise UserError(f"{where}: {what} must be a positive whole number, not {value!r}")
    return number


def _channel_def(value: Any, where: Path | str, what: str) -> dict[int, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{where}: {what} channel_def must map channel numbers to names")
    try:
        return {int(k): str(v).strip() for k, v in value.items()}
    except ValueError as exc:
        raise UserError(f"{where}: {what} channel_def keys must be channel numbers") from exc
