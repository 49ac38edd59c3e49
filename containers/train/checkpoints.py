"""Where a training job keeps its checkpoints so a killed job can resume.

Container output mounts are fresh on every launch, so the checkpoint goes where the next launch
can find it: a project resource `MONAI_CHECKPOINTS/<model-name>/…` through the client, and/or a
local `--checkpoint-dir`. Every write is atomic (a partial file is never read as a checkpoint).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

import torch

from xnat_plugin.client import paths
from xnat_plugin.client.browse import list_files
from xnat_plugin.client.connection import XnatClient, XnatNotFoundError
from xnat_plugin.client.transfer import download_file, ensure_resource, upload_file

log = logging.getLogger(__name__)

CHECKPOINT_RESOURCE = "MONAI_CHECKPOINTS"


class CheckpointStore(Protocol):
    def load(self, name: str) -> dict[str, Any] | None: ...

    def save(self, name: str, state: dict[str, Any]) -> None: ...


def read_checkpoint(path: Path) -> dict[str, Any] | None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged checkpoint means starting over, not failing
        log.warning("checkpoint %s cannot be read (%s); starting that fold afresh", path, exc)
        return None
    return state if isinstance(state, dict) else None


class LocalCheckpoints:
    """Checkpoints in a folder: `<dir>/<name>`, written to a temp file then renamed."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def load(self, name: str) -> dict[str, Any] | None:
        path = self.directory / name
        return read_checkpoint(path) if path.is_file() else None

    def save(self, name: str, state: dict[str, Any]) -> None:
        target = self.directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
        with partial.open("wb") as handle:
            torch.save(state, handle)
        os.replace(partial, target)


class XnatCheckpoints:
    """Checkpoints in project resource MONAI_CHECKPOINTS under `<model-name>/`."""

    def __init__(self, client: XnatClient, project: str, model_name: str) -> None:
        self.client = client
        self.owner = paths.project(project)
        self.prefix = model_name
        self._resource_ready = False

    def load(self, name: str) -> dict[str, Any] | None:
        relative = f"{self.prefix}/{name}"
        try:
            listed = {f.path for f in list_files(self.client, self.owner, CHECKPOINT_RESOURCE)}
        except XnatNotFoundError:
            return None
        if relative not in listed:
            return None
        with tempfile.TemporaryDirectory(prefix="xnat-monai-ckpt-") as scratch:
            local = Path(scratch) / "checkpoint.pt"
            download_file(
                self.client,
                paths.resource_file(self.owner, CHECKPOINT_RESOURCE, relative),
                local,
            )
            return read_checkpoint(local)

    def save(self, name: str, state: dict[str, Any]) -> None:
        if not self._resource_ready:
            ensure_resource(self.client, self.owner, CHECKPOINT_RESOURCE)
            self._resource_ready = True
        with tempfile.TemporaryDirectory(prefix="xnat-monai-ckpt-") as scratch:
            local = Path(scratch) / "checkpoint.pt"
            torch.save(state, local)
            # One PUT with overwrite: XNAT replaces the file only once the body has arrived.
            upload_file(
                self.client, self.owner, CHECKPOINT_RESOURCE, f"{self.prefix}/{name}", local
            )


class CheckpointStores:
    """Several stores: saves go to all, a load takes the most advanced checkpoint found."""

    def __init__(self, stores: list[CheckpointStore]) -> None:
        self.stores = stores

    def load(self, name: str) -> dict[str, Any] | None:
        found = [s for s in (store.load(name) for store in self.stores) if s is not None]
        if not found:
            return None
        return max(found, key=lambda state: int(state.get("epoch", 0)))

    def save(self, name: str, state: dict[str, Any]) -> None:
        for store in self.stores:
            store.save(name, state)


def epoch_state(
    *,
    fingerprint: dict[str, Any],
    epoch: int,
    model: dict[str, Any],
    optimizer: Any,
    scheduler: Any,
    scaler: Any,
    history: list[Any],
    best: Any,
) -> dict[str, Any]:
    """What a trainer saves after each epoch and reads back to resume (one layout for the
    segmentation and the classification trainer)."""
    return {
        "fingerprint": fingerprint,
        "epoch": epoch,
        "model": model,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "history": [vars(r) for r in history],
        "best": best,
    }
