"""Validation of a command as Container Service 3.7.3 does it, plus what XNAT lets through.

`validate_command` gives two lists:
- `errors`: what XNAT's `Command.validate()` refuses at registration (HTTP 400 "Invalid
  command"), with XNAT's own messages, in XNAT's order;
- `warnings`: what XNAT registers without a word but that cannot work (keys it ignores, a
  wrapper with no contexts, a `#KEY#` no input fills, a derivation its resolver refuses, ...).
  With `strict=True` (our own catalogue) these are errors too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xnat_plugin.commands.model import Command
from xnat_plugin.commands.registration_rules import HAS_TAG, xnat_registration_errors
from xnat_plugin.commands.silent_rules import silent_problems


@dataclass
class ValidationReport:
    """What XNAT refuses (`errors`) and what it accepts but cannot run (`warnings`)."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def all_problems(self) -> list[str]:
        return [*self.errors, *self.warnings]


def as_registered(command: Command, *, image: str | None = None) -> Command:
    """The command as XNAT 3.7.3 stores it from `POST /xapi/commands[?image=…]` or an image
    label: `image` (when given) replaces the command's image, `:latest` is added to an
    untagged one, and ids sent in the JSON are dropped (XNAT assigns its own)."""
    chosen = image or command.image
    if chosen and not HAS_TAG.fullmatch(chosen):
        chosen = f"{chosen}:latest"
    wrappers = [wrapper.model_copy(update={"id": 0}) for wrapper in command.xnat]
    return command.model_copy(update={"image": chosen, "id": 0, "xnat": wrappers})


def validate_command(
    command: Command,
    *,
    strict: bool = False,
    image: str | None = None,
    registering: bool = True,
) -> ValidationReport:
    """Validate `command` like XNAT 3.7.3 does.

    `registering=True` follows `POST /xapi/commands` and image labels: XNAT first replaces the
    image with `image` (the `?image=` parameter or the labelled image) when given and adds
    `:latest` to an untagged one, then runs `Command.validate()`; an untagged image is then a
    warning (pin a tag). `registering=False` runs `Command.validate()` on the command as it is
    (the update path, `POST /xapi/commands/{id}`). `strict=True` turns warnings into errors.
    """
    warnings: list[str] = []
    if registering:
        chosen = image or command.image
        if chosen and not HAS_TAG.fullmatch(chosen):
            warnings.append(
                f'Command "{command.name}" - image "{chosen}" has no tag; XNAT registers it as '
                f'"{chosen}:latest". Pin a version tag.'
            )
        command = as_registered(command, image=image)
    errors = xnat_registration_errors(command)
    warnings.extend(silent_problems(command))
    if strict:
        return ValidationReport(errors=[*errors, *warnings], warnings=[])
    return ValidationReport(errors=errors, warnings=warnings)


__all__ = [
    "ValidationReport",
    "as_registered",
    "silent_problems",
    "validate_command",
    "xnat_registration_errors",
]
