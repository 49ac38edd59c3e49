"""One logging format for every entry point (CLI, sandbox, the steps inside the images)."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT = "%H:%M:%S"


def configure_logging(verbose: bool = False) -> None:
    """Send log records to stderr in the project's format (idempotent)."""
    root = logging.getLogger()
    level = logging.DEBUG if verbose else logging.INFO
    root.setLevel(level)
    if not any(getattr(h, "_xnat_monai", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
        handler._xnat_monai = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # Third-party loggers that print request URLs or bodies stay quiet unless asked.
    for noisy in ("urllib3", "xnat", "pyxnat", "uvicorn.access", "httpx", "docker"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
