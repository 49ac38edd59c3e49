"""All outputs or none: write into a hidden folder inside --output, move in at the end.

--output is often a mount point (the container service's /output), which cannot be replaced
by a rename; the staging folder lives inside it and its children are moved up one level.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xnat_plugin.errors import UserError


def require_empty_output(output: Path) -> None:
    """Refuse an --output that already holds files (checked first, before any work)."""
    if not output.is_dir():
        return
    leftovers = [p.name for p in output.iterdir() if not p.name.startswith(".partial-")]
    if leftovers:
        raise UserError(
            f"output folder {output} is not empty ({', '.join(sorted(leftovers)[:5])}); "
            "give an empty folder"
        )


@contextmanager
def staged_output(output: Path) -> Iterator[Path]:
    """Yield a staging folder; on success its contents land in `output`, on error nothing does."""
    output.mkdir(parents=True, exist_ok=True)
    require_empty_output(output)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=output))
    try:
        yield staging
        for child in sorted(staging.iterdir()):
            child.rename(output / child.name)
    except BaseException:
        for child in output.iterdir():
            if child != staging:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
