"""The runner's expected failures."""

from __future__ import annotations

from xnat_plugin.errors import UserError


class CommandResolutionError(UserError):
    """The launch ends `Failed (Command resolution)` with this message (XNAT's wording)."""
