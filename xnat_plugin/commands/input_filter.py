"""The launch-time input filter of the Container Service.

XNAT checks EVERY resolved input value (user values, defaults, and values derived from XNAT
objects alike) before it builds the container, and refuses the launch when one contains a
shell-control string. The strings and the message are those of container-service 3.7.3
(`CommandResolutionService.ILLEGAL_INPUT_STRINGS`, `checkForIllegalInputValue`).
"""

from __future__ import annotations

from collections.abc import Mapping

from xnat_plugin.errors import UserError

# Order matters for the message: XNAT reports the first one of these that the value contains.
ILLEGAL_INPUT_STRINGS: tuple[str, ...] = (";", "&&", "||", "`", "(")


class IllegalInputError(UserError):
    """A resolved input value contains a string the Container Service refuses."""

    def __init__(self, input_name: str, illegal_string: str) -> None:
        super().__init__(illegal_input_message(input_name, illegal_string))
        self.input_name = input_name
        self.illegal_string = illegal_string


def illegal_input_message(input_name: str, illegal_string: str) -> str:
    """XNAT's exact wording for a refused value."""
    return f'Input "{input_name}" has a value containing illegal string "{illegal_string}".'


def find_illegal_string(value: str | None) -> str | None:
    """The first illegal string `value` contains (in XNAT's order), or None."""
    if value is None:
        return None
    for illegal in ILLEGAL_INPUT_STRINGS:
        if illegal in value:
            return illegal
    return None


def check_input_value(input_name: str, value: str | None) -> None:
    """Raise IllegalInputError when `value` would make XNAT refuse the launch."""
    illegal = find_illegal_string(value)
    if illegal is not None:
        raise IllegalInputError(input_name, illegal)


def check_input_values(values: Mapping[str, str | None]) -> None:
    """Check every resolved value, in the mapping's order; the first refusal is raised."""
    for name, value in values.items():
        check_input_value(name, value)
