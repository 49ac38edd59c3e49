"""Command-line text of one input, as Container Service 3.7.3 writes it.

A value becomes `flag + separator + value` (separator " " when unset; nothing when the value is
blank). Several values (a `select-many` or a `multiple` derived input) are joined by the
input's `multiple-delimiter`: `space` (the default), `comma`, `quoted-space`, or `flag` (the
flag repeated before every value).

The text comes back as pieces: the flag, separators and delimiters are trusted (they come from
the command definition), each value is a value, which `shell_line` quotes where it lands.
"""

from __future__ import annotations

import json

from xnat_plugin.commands.model import CommandInput
from xnat_plugin.runner.shell_line import Piece, value_pieces


def command_line_value(
    command_input: CommandInput, value: str, *, sensitive: bool = False
) -> list[Piece]:
    """One input's text on the command line: flag + separator + value (nothing when blank).
    `sensitive` values are masked wherever the command line is recorded."""
    if not value.strip():
        return []
    if command_input.type == "select-many":
        try:
            listed = json.loads(value)
        except json.JSONDecodeError:
            listed = None
        if isinstance(listed, list):
            return multiple_values_for_command_line(
                command_input, [str(v) for v in listed], sensitive=sensitive
            )
    if not (command_input.command_line_flag or "").strip():
        return value_pieces(value, sensitive=sensitive)
    separator = command_input.command_line_separator
    separator = " " if separator is None else separator
    return [
        Piece(f"{command_input.command_line_flag}{separator}"),
        *value_pieces(value, sensitive=sensitive),
    ]


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def multiple_values_for_command_line(
    command_input: CommandInput, values: list[str], *, sensitive: bool = False
) -> list[Piece]:
    """Several values joined per `multiple-delimiter` (`space` when unset)."""
    if not values:
        return []
    flag = command_input.command_line_flag
    separator = command_input.command_line_separator
    prefix = (" " if _blank(flag) else str(flag)) + (" " if _blank(separator) else str(separator))
    prefix = "" if _blank(prefix) else prefix
    suffix = ""
    delimiter_name = command_input.multiple_delimiter or "space"
    if delimiter_name == "quoted-space":
        delimiter, prefix, suffix = " ", prefix + "'", "'"
    elif delimiter_name == "comma":
        delimiter = ","
    elif delimiter_name == "flag":
        delimiter = " " + prefix
    else:
        delimiter = " "
    pieces = [Piece(prefix)]
    for position, value in enumerate(values):
        if position:
            pieces.append(Piece(delimiter))
        pieces.extend(value_pieces(value, sensitive=sensitive))
    pieces.append(Piece(suffix))
    return [piece for piece in pieces if piece.text]
