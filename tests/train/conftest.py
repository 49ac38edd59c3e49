from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def fresh_log_handler() -> Iterator[None]:
    """The steps' `configure_logging` binds stderr once; each test gets its own capture."""
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_xnat_monai", False):
            root.removeHandler(handler)
