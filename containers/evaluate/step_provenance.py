"""What the evaluate step records about one run, in the shared provenance format.

A thin collector over `containers.common.provenance`: the step adds its inputs as it meets
them (a URI and/or a local path, checksummed), then `as_dict()` gives the `Provenance` record
(versions, device, wall time and peak memory up to that moment) for the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from containers.common.provenance import RunClock, collect_provenance, sha256_of_files


@dataclass
class StepRecord:
    step: str
    clock: RunClock = field(default_factory=RunClock)
    inputs: dict[str, str] = field(default_factory=dict)  # URI or path → sha256 ('' unknown)
    model: dict[str, Any] = field(default_factory=dict)

    def add_input(self, name: str, path: Path | None = None, uri: str | None = None) -> None:
        """Record input `name` under its URI (else its path) with the checksum of its files."""
        checksum = ""
        if path is not None and Path(path).exists():
            path = Path(path)
            files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
            checksum = sha256_of_files(files)
        self.inputs[uri or str(path or name)] = checksum

    def as_dict(self) -> dict[str, Any]:
        record = collect_provenance(
            self.step, self.clock, device="cpu", inputs=self.inputs, model=self.model
        )
        return record.model_dump()


@contextmanager
def step_provenance(step: str) -> Iterator[StepRecord]:
    yield StepRecord(step)
