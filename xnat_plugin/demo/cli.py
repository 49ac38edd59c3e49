"""Verbs of this area (filled in by the area's own module)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # noqa: ARG001
    """Add this area's verbs to `xnat-monai`."""
