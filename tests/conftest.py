"""Fixtures shared by every area's tests: where ../shared lives, and a running sandbox."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("XNAT_MONAI_SHARED", REPO_ROOT.parent / "shared"))
REFERENCE_DIR = SHARED_DIR / "reference"
# CI sets this: there the comparisons with XNAT's own schemas and commands must run, not skip.
REQUIRE_REFERENCE = os.environ.get("XNAT_MONAI_REQUIRE_REFERENCE", "") not in ("", "0")


def reference_or_skip() -> Path:
    """`../shared/reference` (XNAT's XSDs, the Container Service's example commands, model-zoo
    bundles); a user's clone has none, so tests that compare against it skip there, and fail
    where XNAT_MONAI_REQUIRE_REFERENCE=1 (CI)."""
    if REFERENCE_DIR.is_dir():
        return REFERENCE_DIR
    message = (
        f"{REFERENCE_DIR} is missing (reference data beside the clone; set XNAT_MONAI_SHARED "
        "to point elsewhere)"
    )
    if REQUIRE_REFERENCE:
        pytest.fail(message + " and XNAT_MONAI_REQUIRE_REFERENCE=1 requires it")
    pytest.skip(message, allow_module_level=True)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """`../shared/reference`: XNAT's XSDs and the Container Service's example commands."""
    return reference_or_skip()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[object]:
    """A sandbox XNAT on a free loopback port with admin/admin, data under tmp_path."""
    from xnat_plugin.sandbox.server import running_sandbox

    with running_sandbox(tmp_path / "xnat", user="admin", password="admin") as server:
        yield server
