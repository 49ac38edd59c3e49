"""Fixtures shared by every area's tests: where ../shared lives, and a running sandbox."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("XNAT_MONAI_SHARED", REPO_ROOT.parent / "shared"))
REFERENCE_DIR = SHARED_DIR / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """`../shared/reference`: XNAT's XSDs and the Container Service's example commands."""
    if not REFERENCE_DIR.is_dir():
        pytest.fail(f"{REFERENCE_DIR} is missing: clone the repo with ../shared beside it")
    return REFERENCE_DIR


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[object]:
    """A sandbox XNAT on a free loopback port with admin/admin, data under tmp_path."""
    from xnat_plugin.sandbox.server import running_sandbox

    with running_sandbox(tmp_path / "xnat", user="admin", password="admin") as server:
        yield server
