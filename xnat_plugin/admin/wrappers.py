"""Which registered command holds a wrapper, found by the wrapper's name.

Our wrapper names are unique across our commands; when several versions of a command are
registered side by side, the newest registration (highest command id) is the one used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xnat_plugin.admin.xapi import Xapi
from xnat_plugin.errors import UserError


@dataclass(frozen=True)
class RegisteredWrapper:
    command_id: int
    command_name: str
    command_version: str
    wrapper_id: int
    name: str
    root_input: str
    contexts: tuple[str, ...]
    root_type: str = ""


def registered_wrappers(xapi: Xapi) -> list[RegisteredWrapper]:
    commands: list[dict[str, Any]] = xapi.get_json("/xapi/commands", what="list commands")
    found = []
    for command in commands:
        for wrapper in command.get("xnat") or []:
            external = wrapper.get("external-inputs") or []
            found.append(
                RegisteredWrapper(
                    command_id=int(command["id"]),
                    command_name=str(command.get("name", "")),
                    command_version=str(command.get("version", "")),
                    wrapper_id=int(wrapper["id"]),
                    name=str(wrapper["name"]),
                    root_input=str(external[0]["name"]) if external else "",
                    contexts=tuple(wrapper.get("contexts") or ()),
                    root_type=str(external[0].get("type") or "") if external else "",
                )
            )
    return found


def find_wrapper(xapi: Xapi, name: str) -> RegisteredWrapper:
    """The newest registered wrapper called `name`, or one line listing the known names."""
    wrappers = registered_wrappers(xapi)
    matching = [w for w in wrappers if w.name == name]
    if not matching:
        known = ", ".join(sorted({w.name for w in wrappers})) or "none"
        raise UserError(
            f"XNAT at {xapi.url} has no wrapper named '{name}' (registered: {known}): check "
            "--wrapper, or register the commands with `xnat-monai install`"
        )
    return max(matching, key=lambda w: w.command_id)


def wrapper_path(wrapper: RegisteredWrapper, project: str | None = None) -> str:
    """`/xapi[/projects/P]/commands/{cid}/wrappers/{name}` for this wrapper."""
    prefix = f"/xapi/projects/{project}" if project else "/xapi"
    return f"{prefix}/commands/{wrapper.command_id}/wrappers/{wrapper.name}"


def ensure_enabled_on_project(xapi: Xapi, wrapper: RegisteredWrapper, project: str) -> None:
    """Refuse, with what to do, a wrapper that the project cannot run."""
    report = xapi.get_json(
        f"{wrapper_path(wrapper, project)}/enabled", what=f"read settings of project {project}"
    )
    if isinstance(report, dict):
        on_site = bool(report.get("enabled-for-site"))
        on_project = bool(report.get("enabled-for-project"))
    else:
        on_site = on_project = bool(report)
    if not (on_site and on_project):
        where = "on the site" if not on_site else f"on project {project}"
        raise UserError(
            f"wrapper '{wrapper.name}' is not enabled {where}: run "
            f"`xnat-monai install --xnat {xapi.url} --project {project}` or enable it in the "
            "project's Container Service settings"
        )
