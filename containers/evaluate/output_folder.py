"""Outputs are built in a temporary folder beside the target and moved in only when complete.

The container service uploads whatever is in the output mount: a step that fails half-way must
leave it empty, never a partial report.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xnat_plugin.errors import UserError


@contextmanager
def staged_output(output: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success move its contents into `output`."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    if any(output.iterdir()):
        raise UserError(f"output folder {output} is not empty: give an empty or new folder")
    # Staging beside the output keeps the final move a rename on the same file system.
    staging = Path(tempfile.mkdtemp(prefix=".evaluate-", dir=output.parent))
    try:
        yield staging
        for entry in sorted(staging.iterdir()):
            shutil.move(str(entry), output / entry.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
