"""What every report carries: software versions, inputs and model checksums, device, time, memory.

`RunClock` starts at the step's beginning; `collect_provenance` is called at the end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import resource
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

PACKAGES = ("xnat-monai", "torch", "monai", "numpy", "pydicom", "highdicom", "nibabel", "scipy")


class Provenance(BaseModel):
    step: str
    started: str
    wall_seconds: float
    peak_memory_mb: float
    device: str
    python: str = Field(default_factory=lambda: sys.version.split()[0])
    platform: str = Field(default_factory=platform.platform)
    image_digest: str = Field(default_factory=lambda: os.environ.get("XNAT_MONAI_IMAGE", "unknown"))
    software: dict[str, str] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict)  # path or URI → sha256
    model: dict[str, Any] = Field(default_factory=dict)
    command_line: list[str] = Field(default_factory=lambda: list(sys.argv))
    energy_joules: float | None = None


@dataclass
class RunClock:
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    start: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def software_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    versions = {}
    for package in packages:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def peak_memory_mb() -> float:
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sha256_of_files(paths: Iterable[Path]) -> str:
    """One checksum over the files' bytes, in sorted path order."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def collect_provenance(
    step: str,
    clock: RunClock,
    *,
    device: str,
    inputs: dict[str, str],
    model: dict[str, Any] | None = None,
) -> Provenance:
    return Provenance(
        step=step,
        started=clock.started_at.isoformat(timespec="seconds"),
        wall_seconds=round(clock.elapsed(), 3),
        peak_memory_mb=round(peak_memory_mb(), 1),
        device=device,
        software=software_versions(),
        inputs=inputs,
        model=model or {},
    )
