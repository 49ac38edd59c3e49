"""A bundle's own inference pipeline, built by MONAI's `ConfigParser` from its config.

The step uses four items of `configs/inference.json|yaml`, as MONAI's bundle workflows do:
`network_def` (the network), `preprocessing`, `inferer` and `postprocessing` (minus the
writers: the step writes its own outputs). Overrides use MONAI's own syntax
(`{"inferer#roi_size": [64, 64, 64]}`, as `python -m monai.bundle run --inferer#roi_size ...`)
and are applied before anything is checked or evaluated.

What MONAI may evaluate is decided by `bundle_trust.decide`: a declarative bundle is parsed
from only the items the pipeline reaches (nothing else of its config is handed to MONAI, so no
`$import` or expression elsewhere runs); a trusted bundle is parsed whole, with its folder on
the import path and `bundle_root` pointing at it, as `monai.bundle run` would.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from containers.common.bundle_trust import (
    WRITER_TARGETS,
    TrustDecision,
    decide,
    declarative_view,
    without_writers,
)
from containers.common.monai_import import UNUSED_BY_NETWORKS, packages_absent
from xnat_plugin.errors import UserError
from xnat_plugin.models.layout import inference_config_path, read_metadata

log = logging.getLogger(__name__)

PIPELINE_ITEMS = ("network_def", "preprocessing", "inferer", "postprocessing")

# Optional packages MONAI imports at its top level that the pipeline items never use: the step
# builds no engine, handler or visualiser (`monai.bundle run` builds an ignite evaluator around
# the same items). What a bundle's configs and transforms may use stays: SciPy and
# scikit-image (transforms), PyYAML (YAML configs), tifffile (whole-slide readers) and filelock.
USED_BY_PIPELINES = ("scipy", "skimage", "yaml", "tifffile", "filelock")
UNUSED_BY_PIPELINES = tuple(p for p in UNUSED_BY_NETWORKS if p not in USED_BY_PIPELINES)


@dataclass
class BundlePipeline:
    """The instantiated items of a bundle's inference config."""

    root: Path
    config_path: Path
    network: Any  # torch.nn.Module
    preprocessing: Any  # monai.transforms.Compose
    inferer: Callable[..., Any]
    postprocessing: Any  # monai.transforms.Compose, writers removed
    image_key: str  # the key the bundle's LoadImaged reads
    amp: bool  # the bundle's evaluator runs under automatic mixed precision (CUDA only)
    trust: TrustDecision
    overrides: dict[str, Any]


def import_monai() -> None:
    """Import MONAI (every subpackage, as `import monai` does) without `UNUSED_BY_PIPELINES`,
    for a process that only runs a bundle's pipeline (`python -m containers.infer`): about half
    of MONAI's import time. Those packages import as usual afterwards; MONAI's engines and
    handlers keep the placeholders of an install without them. Nothing if MONAI is loaded."""
    if "monai" in sys.modules:
        return
    with packages_absent(UNUSED_BY_PIPELINES):
        import monai.bundle  # noqa: F401
    log.debug("MONAI imported without %s", ", ".join(UNUSED_BY_PIPELINES))


def read_config(
    root: Path, overrides: Mapping[str, Any] | None = None
) -> tuple[Path, dict[str, Any]]:
    """The inference config as data (MONAI's JSON / safe-YAML loader), overrides applied."""
    from monai.bundle import ConfigParser

    path = inference_config_path(root)
    if path is None:
        raise UserError(
            f"bundle {root.name} has no configs/inference.json (or .yaml): the step runs a "
            "bundle's inference workflow; add one or re-train the model"
        )
    try:
        raw = ConfigParser.load_config_files(path)
    except Exception as exc:  # a JSON/YAML syntax error, a duplicate key
        raise UserError(f"{path} cannot be read: {_first_line(exc)}") from exc
    if not isinstance(raw, dict):
        raise UserError(f"{path} must hold a mapping of config items")
    # What `ConfigParser.read_meta` adds: configs may refer to `@_meta_#...`.
    parser = ConfigParser(config={**raw, "_meta_": read_metadata(root)})
    if overrides:
        parser.update(dict(overrides))
    return path, parser.get()


def read_pipeline(root: Path, *, overrides: Mapping[str, Any] | None = None) -> BundlePipeline:
    """Check who may run what, then build the bundle's network and transforms with MONAI."""
    path, items, trust, raw = _built(root, PIPELINE_ITEMS, overrides)
    postprocessing = items["postprocessing"]
    if hasattr(postprocessing, "transforms"):  # writers built by a trusted expression
        postprocessing.transforms = tuple(
            t for t in postprocessing.transforms if type(t).__name__ not in WRITER_TARGETS
        )
    return BundlePipeline(
        root=root,
        config_path=path,
        network=items["network_def"],
        preprocessing=items["preprocessing"],
        inferer=items["inferer"],
        postprocessing=postprocessing,
        image_key=image_key_of(items["preprocessing"], root, str(path.relative_to(root))),
        amp=_amp(raw),
        trust=trust,
        overrides=dict(overrides or {}),
    )


def build_items(
    root: Path, items: tuple[str, ...], *, overrides: Mapping[str, Any] | None = None
) -> list[Any]:
    """Only these items of the inference config (and what they reference), built the same
    way under the same rule: e.g. `network_def` for checks and fine-tuning."""
    _path, built, _trust, _raw = _built(root, items, overrides)
    return [built[item] for item in items]


def build_workflow(
    root: Path, items: tuple[str, ...], *, overrides: Mapping[str, Any] | None = None
) -> tuple[Path, dict[str, Any], TrustDecision]:
    """These items of the inference config built under the trust rule, with the config's path
    and the decision (e.g. a detection workflow's network, detector and inferer)."""
    path, built, trust, _raw = _built(root, items, overrides)
    return path, built, trust


def build_network(root: Path, *, overrides: Mapping[str, Any] | None = None) -> Any:
    """The bundle's `network_def`, built with MONAI under the trust rule."""
    return build_items(root, ("network_def",), overrides=overrides)[0]


def _built(
    root: Path, items: tuple[str, ...], overrides: Mapping[str, Any] | None
) -> tuple[Path, dict[str, Any], TrustDecision, dict[str, Any]]:
    from monai.bundle import ConfigParser

    path, raw = read_config(root, overrides)
    where = str(path.relative_to(root))
    missing = [item for item in items if item not in raw]
    if missing:
        raise UserError(
            f"bundle {root.name}: {where} has no {', '.join(missing)}; the step builds "
            f"{', '.join(items)} from it"
        )
    raw = without_writers(raw)
    trust = decide(root, raw, where=where, ids=items)
    log.info("bundle %s: %s", root.name, trust.reason)
    if trust.runs_code:
        parser = ConfigParser(config={**raw, "bundle_root": str(root)})
        # As `monai.bundle run` does: the bundle's scripts/ import as `scripts.<module>`.
        if str(root) not in sys.path:
            sys.path.insert(1, str(root))
        sys.dont_write_bytecode = True  # no __pycache__ in the bundle's folder
    else:
        parser = ConfigParser(config=declarative_view(raw, items).config)
    return path, {item: _build(parser, item, root, where) for item in items}, trust, raw


def _build(parser: Any, item: str, root: Path, where: str) -> Any:
    from monai import __version__ as monai_version

    try:
        return parser.get_parsed_content(item)
    except Exception as exc:
        if isinstance(_innermost(exc), ImportError):  # MONAI's OptionalImportError is one
            raise UserError(
                f"bundle {root.name}: {where} {item} needs a package that does not import "
                f"here ({_cause(exc)}): use an image that has it (MONAI's RetinaNet, in "
                "detection bundles, needs torchvision built for the image's torch)"
            ) from exc
        raise UserError(
            f"bundle {root.name} does not build on MONAI {monai_version}: {where} {item}: "
            f"{_cause(exc)}; the bundle may have been written for another MONAI release"
        ) from exc


def image_key_of(preprocessing: Any, root: Path, where: str) -> str:
    for transform in getattr(preprocessing, "transforms", ()):
        if type(transform).__name__ in ("LoadImaged", "LoadImageD", "LoadImageDict"):
            return str(transform.keys[0])
    raise UserError(
        f"bundle {root.name}: the preprocessing in {where} does not start from files "
        "(no LoadImaged); the step hands it the scan as a NIfTI file"
    )


def _amp(raw: Mapping[str, Any]) -> bool:
    evaluator = raw.get("evaluator")
    value = evaluator.get("amp") if isinstance(evaluator, dict) else None
    if isinstance(value, str) and value.startswith("@"):
        value = raw.get(value[1:])
    return value is True


def _cause(exc: BaseException) -> str:
    """The innermost message: MONAI wraps the real error (e.g. an unexpected keyword
    argument) in "Component to instantiate must represent a valid class…"."""
    return _first_line(_innermost(exc))


def _innermost(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
