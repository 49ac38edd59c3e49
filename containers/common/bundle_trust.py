"""Who may run a bundle's code: the one place that decides.

A MONAI bundle's configs can execute Python: `$...` expressions are `eval`-ed, `$import ...`
imports modules, `_target_` names any importable callable, and `scripts/` sits on the import
path. Anyone who can write the project resource MONAI_MODELS can upload a bundle, and the step
then runs as whoever launches it (in the sandbox's process backend: on the host, as the sandbox's
user). So:

- **Declarative bundles run without approval.** The parts of the inference config the step uses
  (`network_def`, `preprocessing`, `inferer`, `postprocessing`, and what they reference) are
  checked before anything is evaluated: every `_target_` must be one of the MONAI networks,
  transforms, readers and inferers in `DECLARATIVE_TARGETS`, every other value a literal, a
  reference (`@id`, `$@id`) or a dtype (`$torch.float32`); nothing else of the config is even
  handed to MONAI. Writers (`SaveImage`) are dropped first: the step writes its own outputs. Our
  train step's bundles and most model-zoo segmentation bundles (spleen, prostate, the
  segmentation template) are declarative.
- **Any other bundle runs only when the site trusts its code**: its code checksum
  (`xnat_plugin.models.layout.code_checksum`: every file but the weights) is listed in the
  environment variable XNAT_MONAI_TRUSTED_BUNDLES of the command (set by an admin in the command
  definition; a launch cannot change it) or in a file under /etc/xnat-monai/trusted-bundles/ in
  the image. Otherwise the step stops before evaluating anything, with one line that names the
  first piece of code found and how to approve the bundle.

Weights always load with `torch.load(..., weights_only=True)`, trusted or not.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xnat_plugin.errors import UserError
from xnat_plugin.models.layout import SCRIPTS_DIR, code_checksum

TRUST_ENV = "XNAT_MONAI_TRUSTED_BUNDLES"
TRUST_DIR = Path("/etc/xnat-monai/trusted-bundles")
# The config items the infer step builds; everything they reference is checked with them.
PIPELINE_IDS = ("network_def", "preprocessing", "inferer", "postprocessing")
# Transforms that write files: the step drops them and writes its own outputs.
WRITER_TARGETS = frozenset(
    f"{base}{suffix}"
    for base in ("SaveImage", "SaveClassification", "WriteFileMapping")
    for suffix in ("", "d", "D", "Dict")
)

_NETWORKS = (
    "AHNet AttentionUnet BasicUNet BasicUnet BasicUNetPlusPlus BasicUnetPlusPlus DenseNet "
    "DenseNet121 DenseNet169 DenseNet201 DenseNet264 DynUNet DynUnet EfficientNetBN HighResNet "
    "MedNeXt ResNet SegResNet SegResNetDS SegResNetDS2 SegResNetVAE SwinUNETR UNet Unet UNETR VNet "
    "resnet10 resnet18 resnet34 resnet50 resnet101 resnet152 resnet200"
)
_TRANSFORMS = (
    "Activations AsChannelLast AsDiscrete BorderPad CastToType CenterScaleCrop "
    "CenterSpatialCrop ClipIntensityPercentiles ConcatItems CopyItems CropForeground "
    "DeleteItems DivisiblePad EnsureChannelFirst EnsureType FillHoles Flip ForegroundMask "
    "GaussianSmooth HistogramNormalize Identity Invert KeepLargestConnectedComponent "
    "LabelFilter LoadImage MaskIntensity NormalizeIntensity Orientation RemoveSmallObjects "
    "RepeatChannel ResampleToMatch Resize ResizeWithPadOrCrop Rotate90 ScaleIntensity "
    "ScaleIntensityRange ScaleIntensityRangePercentiles SelectItems ShiftIntensity Spacing "
    "SpatialCrop SpatialPad SpatialResample SplitDim SqueezeDim ThresholdIntensity ToNumpy "
    "ToTensor Transpose Zoom"
)
READERS = frozenset(["NibabelReader", "ITKReader", "PydicomReader", "NumpyReader", "NrrdReader"])
DECLARATIVE_TARGETS = frozenset(
    {"Compose", "SimpleInferer", "SlidingWindowInferer", "SlidingWindowInfererAdapt"}
    | set(_NETWORKS.split())
    | {f"{t}{s}" for t in _TRANSFORMS.split() for s in ("", "d", "D", "Dict")}
    | READERS
)
# Keyword arguments with which a network fetches weights or code from elsewhere.
_FETCHING_ARGS = ("pretrained", "pretrained_path", "pretrained_url", "weights_path")
_ID = r"[A-Za-z0-9_]*(?:(?:::|#)[A-Za-z0-9_]*)*"
_PURE_REFERENCE = re.compile(rf"\$@({_ID})")
_WHOLE_REFERENCE = re.compile(rf"@({_ID})")
_CONSTANT = re.compile(r"\$(None|True|False)")
_DTYPE = re.compile(r"\$(torch|numpy|np)\.([a-z0-9_]+)")
_MONAI_KEY = re.compile(r"\$monai\.utils\.([A-Za-z]+)\.([A-Z_]+)")


@dataclass(frozen=True)
class DeclarativeView:
    """The pipeline items a declarative read would hand to MONAI, and the code found on the way.

    `config` holds only the top-level items the pipeline reaches, with `$@id` written as `@id`;
    `problems` names each piece of code (empty: nothing of the bundle would execute).
    """

    config: dict[str, Any]
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TrustDecision:
    """How the step may read a bundle: as data (declarative) or by running its code."""

    runs_code: bool
    code_checksum: str
    reason: str


def without_writers(config: dict[str, Any], item: str = "postprocessing") -> dict[str, Any]:
    """`config` with the file writers left out of `item`'s transform list (a shallow copy)."""
    post = config.get(item)
    if not (isinstance(post, dict) and isinstance(post.get("transforms"), list)):
        return config
    kept = [t for t in post["transforms"] if _short(_target_of(t)) not in WRITER_TARGETS]
    return {**config, item: {**post, "transforms": kept}}


def declarative_view(
    config: Mapping[str, Any], ids: Iterable[str] = PIPELINE_IDS
) -> DeclarativeView:
    """Walk `ids` and everything they reference; collect what would execute code."""
    view: dict[str, Any] = {}
    problems: list[str] = []
    pending = [i for i in ids if i in config]
    while pending:
        top = pending.pop(0)
        if top in view:
            continue
        if top not in config:
            problems.append(f"@{top}: refers to an item the config does not have")
            continue
        references: list[str] = []
        view[top] = _checked(config[top], top, references, problems)
        pending.extend(r for r in references if r not in view)
    return DeclarativeView(config=view, problems=problems)


def _checked(node: Any, where: str, references: list[str], problems: list[str]) -> Any:
    """`node` with pure references normalised; code found is added to `problems`."""
    if isinstance(node, str):
        return _checked_string(node, where, references, problems)
    if isinstance(node, list):
        return [_checked(v, f"{where}::{k}", references, problems) for k, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    if "_target_" in node:
        _check_component(node, where, problems)
    return {k: _checked(v, f"{where}::{k}", references, problems) for k, v in node.items()}


def _checked_string(value: str, where: str, references: list[str], problems: list[str]) -> str:
    pure = _PURE_REFERENCE.fullmatch(value)
    if pure:
        references.append(_top_id(pure.group(1)))
        return value[1:]  # "$@id" evaluates to exactly what "@id" resolves to
    if value.startswith("$"):
        if not _is_literal_expression(value):
            problems.append(f"{where}: the expression {_shorten(value)!r}")
        return value
    if value.startswith("%"):
        problems.append(f"{where}: the macro {_shorten(value)!r} (copies config from elsewhere)")
        return value
    whole = _WHOLE_REFERENCE.fullmatch(value)
    if whole:
        references.append(_top_id(whole.group(1)))
    return value


def _check_component(node: dict[str, Any], where: str, problems: list[str]) -> None:
    target = node["_target_"]
    if not isinstance(target, str):
        problems.append(f"{where}::_target_: a {type(target).__name__} instead of a class name")
        return
    short = _short(target)
    if short not in DECLARATIVE_TARGETS or ("." in target and not target.startswith("monai.")):
        problems.append(f"{where}: _target_ {target!r} (not a declarative MONAI class)")
    if node.get("_mode_", "default") != "default":
        problems.append(f"{where}: _mode_ {node['_mode_']!r}")
    reader = node.get("reader")
    if short.startswith("LoadImage") and isinstance(reader, str) and reader not in READERS:
        problems.append(f"{where}: reader {reader!r} (imported by name)")
    for name in _FETCHING_ARGS:
        if node.get(name) not in (None, False, "", "$None", "$False"):
            problems.append(f"{where}: {name} {node[name]!r} (fetches weights from elsewhere)")


def decide(
    root: Path, config: Mapping[str, Any], *, where: str, ids: Iterable[str] = PIPELINE_IDS
) -> TrustDecision:
    """Declarative, or trusted by checksum; otherwise refuse before any of its code runs."""
    view = declarative_view(config, ids)
    if not view.problems:
        return TrustDecision(
            runs_code=False,
            code_checksum="",
            reason="declarative: read as data, none of the bundle's code runs",
        )
    checksum = code_checksum(root)
    sources = trusted_checksums()
    if checksum in sources:
        return TrustDecision(
            runs_code=True,
            code_checksum=checksum,
            reason=f"runs its own code, trusted by {sources[checksum]}",
        )
    scripts = "; it also carries scripts/" if (root / SCRIPTS_DIR).is_dir() else ""
    raise UserError(
        f"bundle {root.name} runs its own code ({where} {view.problems[0]}"
        f"{f' and {len(view.problems) - 1} more' if len(view.problems) > 1 else ''}{scripts}) "
        f"and this site does not trust it: an admin who has read the bundle approves its code "
        f"checksum {checksum} by adding it to {TRUST_ENV} in the command's environment "
        f"variables or to a file in {TRUST_DIR} in the image (see the admin guide)"
    )


def trusted_checksums(
    environ: Mapping[str, str] | None = None, trust_dir: Path | None = None
) -> dict[str, str]:
    """sha256 checksum → where the site lists it (the environment variable, or a file)."""
    environ = os.environ if environ is None else environ
    trust_dir = (
        Path(environ.get("XNAT_MONAI_TRUST_DIR", TRUST_DIR)) if trust_dir is None else trust_dir
    )
    found: dict[str, str] = {}
    if trust_dir.is_dir():
        for path in sorted(p for p in trust_dir.iterdir() if p.is_file()):
            for checksum in _checksums_in(path.read_text(errors="replace")):
                found.setdefault(checksum, str(path))
    for checksum in _checksums_in(environ.get(TRUST_ENV, "")):
        found.setdefault(checksum, TRUST_ENV)
    return found


def _checksums_in(text: str) -> list[str]:
    """sha256 hex strings in `text`: one per line or separated by commas/spaces; `#` comments."""
    words = re.split(r"[\s,]+", "\n".join(line.split("#", 1)[0] for line in text.splitlines()))
    return [w.lower() for w in words if re.fullmatch(r"[0-9a-fA-F]{64}", w)]


def _is_literal_expression(value: str) -> bool:
    """`$None`, `$True`, `$False`, a dtype such as `$torch.float32` / `$numpy.uint8`, or one of
    MONAI's key names (`$monai.utils.CommonKeys.IMAGE`): MONAI evaluates these, but they only
    name a constant."""
    if _CONSTANT.fullmatch(value):
        return True
    key = _MONAI_KEY.fullmatch(value)
    if key:  # e.g. $monai.utils.CommonKeys.IMAGE, a string constant
        import monai.utils

        holder = getattr(monai.utils, key.group(1), None)
        return isinstance(holder, type) and isinstance(getattr(holder, key.group(2), None), str)
    dtype = _DTYPE.fullmatch(value)
    if not dtype:
        return False
    import numpy
    import torch

    module = torch if dtype.group(1) == "torch" else numpy
    found = getattr(module, dtype.group(2), None)
    if isinstance(found, torch.dtype):
        return True
    return isinstance(found, type) and issubclass(found, numpy.generic)


def _target_of(node: Any) -> str:
    return node.get("_target_", "") if isinstance(node, dict) else ""


def _short(target: Any) -> str:
    return target.rsplit(".", 1)[-1] if isinstance(target, str) else ""


def _top_id(reference: str) -> str:
    return re.split(r"::|#", reference, maxsplit=1)[0]


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
