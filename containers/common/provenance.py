"""What every report carries: software versions, the image, inputs and model checksums, device,
time, memory and energy.

`RunClock` starts at the step's beginning (and with it the energy meter, `energy.py`);
`collect_provenance` is called at the end, so every step records its energy the same way.

The image: a build stamps what it knows into the image's environment (`IMAGE_ENV`: the reference
it was tagged with, the source commit, the build time). The image's content digest cannot be
known inside it (it is the hash of the finished image, and a registry digest exists only after
a push); XNAT's container record names the image each container ran, so the report says where
to find it instead of guessing.
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

from containers.common.energy import Energy, EnergyMeter

PACKAGES = ("xnat-monai", "torch", "monai", "numpy", "pydicom", "highdicom", "nibabel", "scipy")


# Environment variables the image build sets (docker/Dockerfile, from `xnat-monai images build`).
IMAGE_ENV = {
    "reference": "XNAT_MONAI_IMAGE",
    "source_commit": "XNAT_MONAI_SOURCE_COMMIT",
    "built": "XNAT_MONAI_BUILT",
}
NOT_AN_IMAGE = "not run from an xnat-monai image"
DIGEST_NOTE = (
    "not knowable inside the container: XNAT's container record (Container Service history, "
    "`xnat-monai status`) names the image this job ran"
)


class ImageRecord(BaseModel):
    """What the image build stamped in, and where its digest is recorded."""

    reference: str = NOT_AN_IMAGE
    source_commit: str = ""
    built: str = ""
    digest: str = DIGEST_NOTE


def image_record() -> ImageRecord:
    stamped = {key: os.environ.get(env, "") for key, env in IMAGE_ENV.items()}
    if not stamped["reference"]:
        return ImageRecord(digest="")
    return ImageRecord(**stamped)


class Provenance(BaseModel):
    step: str
    started: str
    wall_seconds: float
    peak_memory_mb: float
    device: str
    python: str = Field(default_factory=lambda: sys.version.split()[0])
    platform: str = Field(default_factory=platform.platform)
    image: ImageRecord = Field(default_factory=image_record)
    software: dict[str, str] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict)  # path or URI → sha256
    model: dict[str, Any] = Field(default_factory=dict)
    command_line: list[str] = Field(default_factory=lambda: list(sys.argv))
    energy: Energy | None = None


@dataclass
class RunClock:
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    start: float = field(default_factory=time.perf_counter)
    energy: EnergyMeter = field(default_factory=EnergyMeter.start)

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
        energy=clock.energy.measure(),
    )
