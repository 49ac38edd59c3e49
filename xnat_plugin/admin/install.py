"""`xnat-monai install`: register command JSON files, enable their wrappers on the site and on
projects, and set project defaults, changing only what differs (a second run changes nothing).

Container Service keys a command by name + image + version: a file whose command is already
registered with that triple is left alone, and a new version is registered beside the old one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xnat_plugin.admin.xapi import Xapi
from xnat_plugin.commands.scan_rule import ScanRule
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

# The derived input of a wrapper that the scan rule's matcher selects (infer's).
SCAN_INPUT = "scan"


@dataclass
class InstallReport:
    """What an install did: every change, and what was already in place."""

    registered: list[str] = field(default_factory=list)
    already_registered: list[str] = field(default_factory=list)
    enabled: list[str] = field(default_factory=list)
    configured: list[str] = field(default_factory=list)
    command_ids: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.registered or self.enabled or self.configured)

    def summary(self) -> str:
        if not self.changed:
            return (
                f"nothing to change: {len(self.already_registered)} command(s) already "
                "registered, enabled and configured"
            )
        parts = [
            f"registered {len(self.registered)} command(s)",
            f"enabled {len(self.enabled)} wrapper setting(s)",
            f"set {len(self.configured)} project default(s)",
        ]
        if self.already_registered:
            parts.append(f"{len(self.already_registered)} command(s) were already registered")
        return ", ".join(parts)


def read_command_files(commands_dir: Path) -> list[dict[str, Any]]:
    """Every command in `commands_dir/*.json` (each file one command or a JSON array)."""
    if not commands_dir.is_dir():
        raise UserError(
            f"no command folder at {commands_dir}: pass --commands-dir with the folder of "
            "command JSON files (command_json/ in the repository)"
        )
    commands: list[dict[str, Any]] = []
    for path in sorted(commands_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read command file {path}: {exc}") from exc
        items = data if isinstance(data, list) else [data]
        for item in items:
            if not isinstance(item, dict) or "name" not in item:
                raise UserError(f"{path} holds something that is not a command (no 'name')")
            commands.append(item)
    if not commands:
        raise UserError(f"no command JSON files in {commands_dir}")
    return commands


def _key(command: dict[str, Any]) -> tuple[str, str, str]:
    return (str(command["name"]), str(command.get("image")), str(command.get("version") or ""))


def _register(
    xapi: Xapi,
    command: dict[str, Any],
    existing: dict[tuple[str, str, str], int],
    report: InstallReport,
) -> int:
    key = _key(command)
    title = f"{key[0]} {key[2]} ({key[1]})"
    if key in existing:
        report.already_registered.append(title)
        return existing[key]
    response = xapi.request(
        "POST",
        "/xapi/commands",
        what=f"register command {title}",
        ok=(200, 201, 400),
        data=json.dumps(command),
        headers={"Content-Type": "application/json"},
    )
    if response.status_code == 400:
        reason = response.text.strip().replace("\n", " ")
        raise UserError(f"XNAT at {xapi.url} refused command {title}: {reason}")
    command_id = int(response.text.strip())
    log.info("registered %s as command %d", title, command_id)
    report.registered.append(title)
    return command_id


def _enable(xapi: Xapi, path: str, label: str, report: InstallReport) -> None:
    """PUT `path/enabled` unless GET `path/enabled` already says so."""
    answer = xapi.get_json(f"{path}/enabled", what=f"read whether {label} is enabled")
    # The project form answers a report object, the site form a bare boolean.
    state = answer if isinstance(answer, dict) else {"enabled-for-project": answer}
    if state.get("enabled-for-project"):
        return
    xapi.request("PUT", f"{path}/enabled", what=f"enable {label}")
    log.info("enabled %s", label)
    report.enabled.append(label)


def _configure(
    xapi: Xapi, path: str, label: str, inputs: dict[str, dict[str, str]], report: InstallReport
) -> None:
    """Set the project's configuration of inputs (`{input: {"default-value" or "matcher":
    value}}`) unless it already says so."""
    current = xapi.get_json(f"{path}/config", what=f"read the defaults of {label}") or {}
    current_inputs = current.get("inputs") or {}
    if all(
        str((current_inputs.get(name) or {}).get(key)) == value
        for name, settings in inputs.items()
        for key, value in settings.items()
    ):
        return
    merged = dict(current_inputs)
    for name, settings in inputs.items():
        merged[name] = {**(merged.get(name) or {}), **settings}
    xapi.post_json(
        f"{path}/config", {**current, "inputs": merged}, what=f"set the defaults of {label}"
    )
    log.info("set defaults of %s: %s", label, ", ".join(sorted(inputs)))
    report.configured.append(label)


def _scan_rule_settings(
    command: dict[str, Any], wrapper: dict[str, Any], rule: ScanRule
) -> dict[str, dict[str, str]]:
    """The project configuration that applies `rule` to one wrapper: the matcher of its derived
    Scan input `scan` (infer), the default values of the rule's command inputs (train)."""
    settings: dict[str, dict[str, str]] = {}
    for derived in wrapper.get("derived-inputs") or []:
        if derived.get("name") == SCAN_INPUT and derived.get("type") == "Scan":
            settings[SCAN_INPUT] = {"matcher": rule.matcher()}
    names = {str(i.get("name")) for i in command.get("inputs") or []}
    for name, value in rule.input_values().items():
        if name in names:
            settings[name] = {"default-value": value}
    return settings


def install_commands(
    xapi: Xapi,
    commands_dir: Path,
    projects: list[str] | tuple[str, ...] = (),
    defaults: dict[str, dict[str, str]] | None = None,
    scan_rule: ScanRule | None = None,
) -> InstallReport:
    """Register every command in `commands_dir`, enable each wrapper on the site and on each
    project, and set `defaults[wrapper][input] = value` as project defaults; with `scan_rule`,
    also the projects' scan rule (infer's `scan` matcher and train's scan inputs alike)."""
    report = InstallReport()
    commands = read_command_files(commands_dir)
    listed: list[dict[str, Any]] = xapi.get_json("/xapi/commands", what="list commands")
    existing = {_key(c): int(c["id"]) for c in listed}
    for command in commands:
        command_id = _register(xapi, command, existing, report)
        report.command_ids[_key(command)[0]] = command_id
        stored = xapi.get_json(f"/xapi/commands/{command_id}", what="read a command")
        for wrapper in stored.get("xnat") or []:
            name = wrapper["name"]
            _enable(
                xapi, f"/xapi/commands/{command_id}/wrappers/{name}", f"{name} on the site", report
            )
            for project in projects:
                path = f"/xapi/projects/{project}/commands/{command_id}/wrappers/{name}"
                _enable(xapi, path, f"{name} on project {project}", report)
                wanted = {
                    input_name: {"default-value": value}
                    for input_name, value in ((defaults or {}).get(name) or {}).items()
                }
                if scan_rule is not None:
                    wanted.update(_scan_rule_settings(stored, wrapper, scan_rule))
                if wanted:
                    _configure(xapi, path, f"{name} on project {project}", wanted, report)
    log.info("%s", report.summary())
    return report
