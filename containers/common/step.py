"""What every step shares, written once: its outputs appear all together or not at all, it finds
XNAT where the Container Service puts it, it records its provenance, and an expected failure
ends it with one line.

- `staged_output(output)`: a hidden `.partial-*` folder inside `output` to write into; on
  success its contents move into `output` (or, with `into=NAME`, it becomes `output/NAME`,
  replacing an older one); on any error nothing of this run is left. The Container Service
  uploads whatever lies in the output mount once the container exits 0, and the mount itself
  cannot be renamed: the staging folder lives inside it, on the same file system, so every
  move is a rename.
- `xnat_from_environment()`: the XNAT of `XNAT_HOST` with the launching user's alias token in
  `XNAT_USER` / `XNAT_PASS` (container-service.md §5), closed when the step ends.
- `StepRecord`: the step's provenance (`containers.common.provenance`): the clock started with
  the step, the inputs met on the way (URI or path → sha256), the model and the device.
- `report_run_name(run, prefix)`: the folder a project report is written to (`--run`), checked.
- `run_step(name, body)`: runs the step's body; a `UserError` becomes `name: message` on
  stderr and its exit code, never a traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from containers.common.provenance import (
    Provenance,
    RunClock,
    collect_provenance,
    sha256_of_files,
)
from xnat_plugin.errors import UserError

if TYPE_CHECKING:
    from xnat_plugin.client.connection import XnatClient

STAGING_PREFIX = ".partial-"
HOST_VARIABLE = "XNAT_HOST"
# A report's run folder: one path segment of letters, digits, '_', '-', '.', not dots alone.
RUN_NAME = re.compile(r"^(?!\.+$)[A-Za-z0-9_.\-]{1,128}$")


def report_run_name(run: str | None, prefix: str) -> str:
    """The folder of one project report inside its resource: `run` (`--run`), else
    `<prefix>_<UTC time>`; a name that is not one plain path segment is refused."""
    name = run or f"{prefix}_{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    if not RUN_NAME.match(name):
        raise UserError(
            f"--run {name!r} may contain only letters, digits, '_', '-' and '.' (not dots "
            "alone, at most 128 characters): choose another run name"
        )
    return name


# ── outputs: all or nothing ─────────────────────────────────────────────────────────────────


def require_empty_output(output: Path) -> None:
    """Refuse an `output` that already holds files (checked first, before any work)."""
    if not output.is_dir():
        return
    leftovers = [p.name for p in output.iterdir() if not p.name.startswith(STAGING_PREFIX)]
    if leftovers:
        raise UserError(
            f"output folder {output} is not empty ({', '.join(sorted(leftovers)[:5])}); "
            "give an empty folder"
        )


@contextlib.contextmanager
def staged_output(output: Path, *, into: str | None = None) -> Iterator[Path]:
    """Yield an empty staging folder inside `output`.

    Without `into`, `output` must be empty (else `UserError` before anything is written) and
    on success the staging folder's contents move into it. With `into`, `output` may hold other
    things and the staging folder itself becomes `output/into` (an older `output/into` is
    replaced only once the new one is complete). On any error nothing of this run stays.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    if into is None:
        require_empty_output(output)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=output))
    moved: list[Path] = []
    try:
        yield staging
        if into is not None:
            final = output / into
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
        else:
            for child in sorted(staging.iterdir()):
                target = output / child.name
                os.replace(child, target)
                moved.append(target)
    except BaseException:
        for target in moved:
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ── XNAT from the environment ───────────────────────────────────────────────────────────────


@contextlib.contextmanager
def xnat_from_environment() -> Iterator[XnatClient | None]:
    """The XNAT the Container Service passes in `XNAT_HOST` / `XNAT_USER` / `XNAT_PASS`, or
    `None` without `XNAT_HOST`; closed when the block ends."""
    host = os.environ.get(HOST_VARIABLE, "")
    if not host:
        yield None
        return
    from xnat_plugin.client.connection import connect

    client = connect(host, os.environ.get("XNAT_USER"), os.environ.get("XNAT_PASS"))
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def required_xnat(given: XnatClient | None, *, needed_by: str) -> Iterator[XnatClient]:
    """`given` (left open: its owner closes it), else the XNAT of the environment; without
    either, one line saying how to give it."""
    if given is not None:
        yield given
        return
    with xnat_from_environment() as client:
        if client is None:
            raise UserError(
                f"{HOST_VARIABLE} is not set: {needed_by} reads XNAT over REST; run it through "
                "the container service or export XNAT_HOST, XNAT_USER and XNAT_PASS"
            )
        yield client


# ── provenance ──────────────────────────────────────────────────────────────────────────────


@dataclass
class StepRecord:
    """What a step records about one run, for the report's `provenance`."""

    step: str
    clock: RunClock = field(default_factory=RunClock)
    inputs: dict[str, str] = field(default_factory=dict)  # URI or path → sha256 ('' unknown)
    model: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"

    def add_input(self, name: str, path: Path | None = None, uri: str | None = None) -> None:
        """Record input `name` under its URI (else its path) with the checksum of its files."""
        checksum = ""
        if path is not None and Path(path).exists():
            path = Path(path)
            files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
            checksum = sha256_of_files(files)
        self.inputs[uri or str(path or name)] = checksum

    def provenance(self) -> Provenance:
        """Versions, device, inputs, model, wall time, peak memory and energy up to now."""
        return collect_provenance(
            self.step, self.clock, device=self.device, inputs=self.inputs, model=self.model
        )

    def as_dict(self) -> dict[str, Any]:
        return self.provenance().model_dump()


# ── one line for an expected failure ────────────────────────────────────────────────────────


def run_step(name: str, body: Callable[[], object]) -> int:
    """Run `body`; 0 when it returns, the error's exit code with `name: message` on stderr
    when it raises `UserError` (what was wrong, where, what to do: no traceback)."""
    try:
        body()
    except UserError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0
