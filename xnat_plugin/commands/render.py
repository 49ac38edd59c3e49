"""Write the catalogue to `command_json/`, or tell which files are stale.

Each file is the JSON array that goes into one image's `org.nrg.commands` label, written with
two-space indents and a final newline so that `git diff` shows command changes line by line.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from xnat_plugin.commands.catalogue import catalogue
from xnat_plugin.commands.model import Command

log = logging.getLogger(__name__)

DEFAULT_COMMAND_JSON_DIR = Path("command_json")


def command_file_text(commands: list[Command]) -> str:
    """The text of one `command_json/` file."""
    return json.dumps([c.to_dict() for c in commands], indent=2, ensure_ascii=False) + "\n"


def rendered_files() -> dict[str, str]:
    """File name → text, for every file of the catalogue."""
    return {name: command_file_text(commands) for name, commands in catalogue().items()}


def render_command_json(directory: Path = DEFAULT_COMMAND_JSON_DIR) -> list[Path]:
    """Write every catalogue file into `directory`; returns the files that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in rendered_files().items():
        path = directory / name
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.write_text(text, encoding="utf-8")
        changed.append(path)
        log.info("wrote %s", path)
    return changed


def stale_command_json(directory: Path = DEFAULT_COMMAND_JSON_DIR) -> list[str]:
    """One line per file in `directory` that differs from the catalogue (or is missing)."""
    problems = []
    for name, text in rendered_files().items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path} is stale")
    return problems
