"""What the evaluate step records about one run, kept in its reports.

The record is built here from what the step knows (inputs and their checksums, wall time,
peak memory, library versions); `containers.common.provenance` is the shared format once it
exists, and this adapter is where the step hands its facts over to it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import platform
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_PACKAGES = ("xnat-monai", "numpy", "scipy", "pydicom", "highdicom", "nibabel", "matplotlib")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


@dataclass
class StepRecord:
    step: str
    started: dt.datetime
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    clock_start: float = field(default_factory=time.perf_counter)

    def add_input(self, name: str, path: Path | None = None, uri: str | None = None) -> None:
        entry: dict[str, str] = {}
        if uri:
            entry["uri"] = uri
        if path is not None and Path(path).exists():
            entry["path"] = str(path)
            entry["sha256"] = _sha256(Path(path))
        self.inputs[name] = entry

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "started": self.started.isoformat(timespec="seconds"),
            # Both up to the moment the record is written into a report.
            "wall_time_s": round(time.perf_counter() - self.clock_start, 3),
            # ru_maxrss is in KiB on Linux.
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "device": "cpu",
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "software": {p: _version(p) for p in _PACKAGES},
            "inputs": self.inputs,
        }


@contextmanager
def step_provenance(step: str) -> Iterator[StepRecord]:
    yield StepRecord(step, dt.datetime.now(dt.UTC))
