"""A command line as trusted template text and untrusted values, written for `/bin/sh`.

Container Service pastes each value into the command line as raw text and, with
`override-entrypoint`, runs `/bin/sh -c "<command-line>"`: a value holding a quote, `|`, `$`, `>`,
`&` or a newline becomes shell syntax (its input filter refuses only `;`, `&&`, `||`, a backtick
and `(`, which is no shell-safety guarantee). Here the one place values enter a command line
quotes each value for the shell context it lands in: outside quotes, inside `'…'` (a template may
write `'/models/#model-name#'`), or inside `"…"`. The shell reads every value back as exactly its
text, never as syntax. A value made only of characters the shell treats as plain (letters,
digits, `@%+=:,./-_`) is written unchanged, so ordinary command lines read as Container Service
writes them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from xnat_plugin.runner.errors import CommandResolutionError

SENSITIVE_MASK = "*****"


class _Context(Enum):
    """Where the shell's reader is at a point of the command line."""

    PLAIN = "outside quotes"
    SINGLE = "inside '…'"
    DOUBLE = 'inside "…"'
    PLAIN_ESCAPED = "after a backslash"
    DOUBLE_ESCAPED = 'after a backslash inside "…"'


# POSIX sh quoting: which characters of trusted text move the reader to another context.
_NEXT: dict[_Context, dict[str, _Context]] = {
    _Context.PLAIN: {"'": _Context.SINGLE, '"': _Context.DOUBLE, "\\": _Context.PLAIN_ESCAPED},
    _Context.SINGLE: {"'": _Context.PLAIN},
    _Context.DOUBLE: {'"': _Context.PLAIN, "\\": _Context.DOUBLE_ESCAPED},
}
_AFTER_ESCAPE = {_Context.PLAIN_ESCAPED: _Context.PLAIN, _Context.DOUBLE_ESCAPED: _Context.DOUBLE}


def _advance(context: _Context, text: str) -> _Context:
    """The reader's context after it reads the trusted `text`."""
    for char in text:
        if context in _AFTER_ESCAPE:
            context = _AFTER_ESCAPE[context]
        else:
            context = _NEXT[context].get(char, context)
    return context


def quote_for(context: _Context, value: str) -> str:
    """`value` written so that the shell, reading in `context`, takes it as plain text."""
    if context is _Context.PLAIN:
        # An empty value leaves nothing behind, as Container Service writes it.
        return shlex.quote(value) if value else ""
    if context is _Context.SINGLE:
        return value.replace("'", "'\\''")
    if context is _Context.DOUBLE:
        return re.sub(r'([\\"$`])', r"\\\1", value)
    raise CommandResolutionError(
        f"the command line puts a value {context.value}, where the shell would read its first "
        "character as escaped; remove the backslash before the replacement key"
    )


@dataclass(frozen=True)
class Piece:
    """A run of command-line text: trusted (from the command definition) or a value."""

    text: str
    is_value: bool = False
    sensitive: bool = False


def value_pieces(text: str, *, sensitive: bool = False) -> list[Piece]:
    return [Piece(text, True, sensitive)] if text else []


@dataclass(frozen=True)
class ShellLine:
    """A command line: trusted template text with values in between."""

    pieces: tuple[Piece, ...]

    @classmethod
    def trusted(cls, text: str) -> ShellLine:
        return cls((Piece(text),))

    @classmethod
    def from_template(
        cls, template: str | None, replacements: Mapping[str, Sequence[Piece]]
    ) -> ShellLine:
        """`template` with every replacement key replaced by its pieces (a key found inside a
        value is not replaced again)."""
        text = template or ""
        keys = sorted((key for key in replacements if key), key=len, reverse=True)
        if not keys:
            return cls.trusted(text)
        pattern = re.compile("|".join(re.escape(key) for key in keys))
        pieces: list[Piece] = []
        position = 0
        for match in pattern.finditer(text):
            pieces.append(Piece(text[position : match.start()]))
            pieces.extend(replacements[match.group(0)])
            position = match.end()
        pieces.append(Piece(text[position:]))
        return cls(tuple(piece for piece in pieces if piece.text))

    def render(
        self, *, host_paths: Mapping[str, Path] | None = None, mask_sensitive: bool = False
    ) -> str:
        """The text `/bin/sh -c` (or a shell-like split) receives. `host_paths` maps container
        mount paths to host folders (the process backend); each host path is quoted as a value.
        `mask_sensitive` writes the mask for the values of sensitive inputs (for records)."""
        out: list[str] = []
        context = _Context.PLAIN
        for piece in self.pieces:
            if piece.is_value:
                value = SENSITIVE_MASK if mask_sensitive and piece.sensitive else piece.text
                if host_paths:
                    value = "".join(text for text, _ in _split_paths(value, host_paths))
                out.append(quote_for(context, value))
                continue
            for text, is_host_path in _split_paths(piece.text, host_paths or {}):
                if is_host_path:
                    out.append(quote_for(context, text))
                else:
                    out.append(text)
                    context = _advance(context, text)
        return "".join(out)

    def __str__(self) -> str:
        return self.render()


def _split_paths(text: str, host_paths: Mapping[str, Path]) -> Iterator[tuple[str, bool]]:
    """`text` cut into (text, False) runs and (host folder, True) where a container mount path
    stands as a whole path (longest first; `/input` inside `/data/input` stays)."""
    if not host_paths:
        yield text, False
        return
    container_paths = sorted(host_paths, key=len, reverse=True)
    alternatives = "|".join(re.escape(path.rstrip("/") or "/") for path in container_paths)
    pattern = re.compile(rf"(?<![\w./-])({alternatives})(?![\w.-])")
    by_path = {(path.rstrip("/") or "/"): str(host) for path, host in host_paths.items()}
    position = 0
    for match in pattern.finditer(text):
        if match.start() > position:
            yield text[position : match.start()], False
        yield by_path[match.group(1)], True
        position = match.end()
    if position < len(text):
        yield text[position:], False


def rewrite_container_paths(text: str, host_paths: Mapping[str, Path]) -> str:
    """Replace each container mount path in `text` by its host folder, unquoted (for values
    that no shell reads: environment variables, the working directory)."""
    return "".join(part for part, _ in _split_paths(text, host_paths))
