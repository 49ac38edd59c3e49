"""One logging format for every entry point (CLI, sandbox, the steps inside the images)."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT = "%H:%M:%S"


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is now, not to the one at set-up: a later redirection
    (a test capturing output, a progress display) must not leave it writing to a closed file."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:  # the base class assigns it; always use sys.stderr
        pass


def configure_logging(verbose: bool = False) -> None:
    """Send log records to stderr in the project's format (idempotent)."""
    root = logging.getLogger()
    level = logging.DEBUG if verbose else logging.INFO
    root.setLevel(level)
    if not any(getattr(h, "_xnat_monai", False) for h in root.handlers):
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
        handler._xnat_monai = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # Third-party loggers that print request URLs or bodies stay quiet unless asked.
    for noisy in ("urllib3", "xnat", "pyxnat", "uvicorn.access", "httpx", "docker", "highdicom"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
