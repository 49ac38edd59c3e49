"""Finding commands and wrappers among the stored ones, the way Container Service looks them up.

A wrapper is addressed either by its global id or by its command's id and its name; both
forms appear in XNAT's REST paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xnat_plugin.runner.xsi_types import matches_contexts
from xnat_plugin.sandbox.container_service.store import ContainerServiceStore


def xsi_type_matches(xsi_type: str, contexts: list[str]) -> bool:
    """A wrapper whose context is a parent type runs on every subtype
    (`xnat:imageSessionData` matches `xnat:ctSessionData`)."""
    return matches_contexts(xsi_type, contexts)


@dataclass(frozen=True)
class WrapperRef:
    """A wrapper with the command that holds it."""

    command: dict[str, Any]
    wrapper: dict[str, Any]

    @property
    def command_id(self) -> int:
        return int(self.command["id"])

    @property
    def wrapper_id(self) -> int:
        return int(self.wrapper["id"])

    @property
    def name(self) -> str:
        return str(self.wrapper["name"])

    @property
    def external_inputs(self) -> list[dict[str, Any]]:
        return list(self.wrapper.get("external-inputs") or [])

    @property
    def root_input_name(self) -> str:
        inputs = self.external_inputs
        return str(inputs[0]["name"]) if inputs else ""

    @property
    def contexts(self) -> list[str]:
        return list(self.wrapper.get("contexts") or [])


class WrapperNotFound(LookupError):
    pass


def find_wrapper(
    store: ContainerServiceStore,
    *,
    command_id: int | None = None,
    wrapper_name: str | None = None,
    wrapper_id: int | None = None,
) -> WrapperRef:
    """Look a wrapper up by id, or by command id and wrapper name; WrapperNotFound otherwise."""
    commands = store.commands()
    if command_id is not None:
        commands = [c for c in commands if int(c["id"]) == command_id]
        if not commands:
            raise WrapperNotFound(f"No command with id {command_id}.")
    for command in commands:
        for wrapper in command.get("xnat") or []:
            if wrapper_id is not None and int(wrapper["id"]) == wrapper_id:
                return WrapperRef(command, wrapper)
            if wrapper_name is not None and wrapper["name"] == wrapper_name:
                return WrapperRef(command, wrapper)
    what = f"id {wrapper_id}" if wrapper_id is not None else f"name '{wrapper_name}'"
    where = f" in command {command_id}" if command_id is not None else ""
    raise WrapperNotFound(f"No wrapper with {what}{where}.")


def all_wrappers(store: ContainerServiceStore) -> list[WrapperRef]:
    return [WrapperRef(c, w) for c in store.commands() for w in c.get("xnat") or []]
