"""`xnat-monai models list`: the models in a project's MONAI_MODELS, as their files say.

Each top-level folder of the resource is one model; its `configs/metadata.json` gives version,
labels and input channels, and the model card `models add` wrote (if any) the checksums.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from xnat_plugin.client import XnatClient, paths
from xnat_plugin.client.browse import FileInfo, list_files, list_resources
from xnat_plugin.errors import UserError
from xnat_plugin.models.layout import (
    INFERENCE_CONFIGS,
    METADATA,
    MODEL_CARD,
    MODELS_RESOURCE,
    SPEC_KEY,
    bundle_format,
)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    kind: str  # "xnat-monai" (trained here), "MONAI bundle", or why it is not usable
    labels: list[str]
    input_channels: list[str]
    files: int
    size_bytes: int
    code_sha256: str  # from the model card; "" when the model was not added with `models add`
    needs_trust: bool | None  # from the model card


def list_models(client: XnatClient, project: str) -> list[ModelInfo]:
    project_path = paths.project(project)
    if not any(r.label == MODELS_RESOURCE for r in list_resources(client, project_path)):
        raise UserError(
            f"project {project} has no {MODELS_RESOURCE} resource: train a model there or add "
            "one with 'xnat-monai models add'"
        )
    by_model: dict[str, list[FileInfo]] = defaultdict(list)
    for file in list_files(client, project_path, MODELS_RESOURCE):
        top, sep, _rest = file.path.partition("/")
        if sep:
            by_model[top].append(file)
    return [_describe(client, name, files) for name, files in sorted(by_model.items())]


def _describe(client: XnatClient, name: str, files: list[FileInfo]) -> ModelInfo:
    by_path = {f.path[len(name) + 1 :]: f for f in files}
    size = sum(f.size or 0 for f in files)
    card = _json(client, by_path.get(MODEL_CARD)) or {}
    metadata = _json(client, by_path.get(METADATA))
    needs_trust = card.get("needs_trust")

    def info(version: str, kind: str, labels: list[str], inputs: list[str]) -> ModelInfo:
        return ModelInfo(
            name=name,
            version=version,
            kind=kind,
            labels=labels,
            input_channels=inputs,
            files=len(files),
            size_bytes=size,
            code_sha256=str(card.get("code_sha256", "")),
            needs_trust=needs_trust if isinstance(needs_trust, bool) else None,
        )

    if metadata is None:
        return info("", f"not a bundle (no {METADATA})", [], [])
    if not any(c in by_path for c in INFERENCE_CONFIGS):
        kind = "no inference config"
    else:
        kind = "xnat-monai" if SPEC_KEY in metadata else "MONAI bundle"
    try:
        fmt = bundle_format(metadata, f"{name}/{METADATA}")
    except UserError as exc:
        return info(str(metadata.get("version", "")), f"not usable: {exc}"[:90], [], [])
    return info(str(metadata.get("version", "")), kind, list(fmt.labels), list(fmt.input_channels))


def _json(client: XnatClient, file: FileInfo | None) -> dict[str, Any] | None:
    if file is None:
        return None
    try:
        value = json.loads(client.get(file.uri).content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
