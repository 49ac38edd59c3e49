"""The syntax of a Jayway-JsonPath filter: tokens, literals and paths (no evaluation).

Split from `matchers` so each file holds one idea; `matchers` builds the expression tree
from these tokens and evaluates it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from xnat_plugin.errors import UserError


class MatcherSyntaxError(UserError):
    """A matcher that Container Service's JSONPath compiler would reject."""


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # path, string, number, literal, regex, array, op, and, or, not, lparen, rparen
    text: str
    value: Any = None


_RELATIONAL_WORDS = ("subsetof", "anyof", "noneof", "contains", "size", "empty", "nin", "in")
_RELATIONAL_SYMBOLS = ("==", "!=", "<=", ">=", "=~", "<", ">")
_PATH_STOP = set(" \t\r\n=!<>)&|,")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif text.startswith("&&", i):
            tokens.append(Token("and", "&&"))
            i += 2
        elif text.startswith("||", i):
            tokens.append(Token("or", "||"))
            i += 2
        elif any(text.startswith(op, i) for op in _RELATIONAL_SYMBOLS):
            op = next(op for op in _RELATIONAL_SYMBOLS if text.startswith(op, i))
            tokens.append(Token("op", op))
            i += len(op)
        elif char == "!":
            tokens.append(Token("not", "!"))
            i += 1
        elif char == "(":
            tokens.append(Token("lparen", "("))
            i += 1
        elif char == ")":
            tokens.append(Token("rparen", ")"))
            i += 1
        elif char in "@$":
            end = _path_end(text, i)
            tokens.append(Token("path", text[i:end], parse_path(text[i:end])))
            i = end
        elif char in "'\"":
            value, i = _read_string(text, i)
            tokens.append(Token("string", value, value))
        elif char == "[":
            end = _matching_bracket(text, i, "[", "]")
            tokens.append(Token("array", text[i:end], _parse_array(text[i:end])))
            i = end
        elif char == "/":
            pattern, i = _read_regex(text, i)
            tokens.append(Token("regex", pattern.pattern, pattern))
        elif (number := _NUMBER.match(text, i)) is not None:
            literal = number.group(0)
            parsed: float | int = (
                float(literal) if any(c in literal for c in ".eE") else int(literal)
            )
            tokens.append(Token("number", literal, parsed))
            i = number.end()
        else:
            word = re.match(r"[A-Za-z]+", text[i:])
            if word is None:
                raise MatcherSyntaxError(f"unexpected character {char!r} at position {i}")
            name = word.group(0)
            if name in _RELATIONAL_WORDS:
                tokens.append(Token("op", name))
            elif name in ("true", "false", "null"):
                tokens.append(Token("literal", name, json.loads(name)))
            else:
                raise MatcherSyntaxError(f"unknown word {name!r} at position {i}")
            i += len(name)
    return tokens


def _path_end(text: str, start: int) -> int:
    i = start + 1
    while i < len(text) and text[i] not in _PATH_STOP:
        if text[i] == "[":
            i = _matching_bracket(text, i, "[", "]")
        elif text[i] == "(":
            raise MatcherSyntaxError(f"functions in paths are not supported: {text[start:]!r}")
        else:
            i += 1
    return i


def _matching_bracket(text: str, start: int, opening: str, closing: str) -> int:
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char in "'\"":
            _, i = _read_string(text, i)
            continue
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise MatcherSyntaxError(f"unclosed {opening!r} starting at position {start}")


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char == quote:
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise MatcherSyntaxError(f"unterminated string starting at position {start}")


def _read_regex(text: str, start: int) -> tuple[re.Pattern[str], int]:
    i = start + 1
    while i < len(text) and text[i] != "/":
        i += 2 if text[i] == "\\" else 1
    if i >= len(text):
        raise MatcherSyntaxError(f"unterminated regular expression at position {start}")
    pattern = text[start + 1 : i]
    i += 1
    flags = 0
    flag_letters = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
    while i < len(text) and text[i] in "idmsuxU":
        flags |= flag_letters.get(text[i], 0)
        i += 1
    try:
        return re.compile(pattern, flags), i
    except re.error as exc:
        raise MatcherSyntaxError(f"bad regular expression /{pattern}/: {exc}") from exc


def _parse_array(text: str) -> list[Any]:
    inner = text[1:-1].strip()
    if not inner:
        return []
    values: list[Any] = []
    for item in _split_top_level(inner):
        item = item.strip()
        if item[:1] in "'\"":
            value, end = _read_string(item, 0)
            if item[end:].strip():
                raise MatcherSyntaxError(f"bad array element {item!r}")
            values.append(value)
        else:
            try:
                values.append(json.loads(item))
            except json.JSONDecodeError as exc:
                raise MatcherSyntaxError(f"bad array element {item!r}") from exc
    return values


def _split_top_level(inner: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(inner):
        char = inner[i]
        if char in "'\"":
            _, end = _read_string(inner, i)
            current.append(inner[i:end])
            i = end
            continue
        if char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    if any(not part.strip() for part in parts):
        raise MatcherSyntaxError(f"empty element in array [{inner}]")
    return parts


# --------------------------------------------------------------------------- paths


# A path step: a property name, an index, or "*" (every element / every value).
@dataclass(frozen=True)
class FilterStep:
    """A `[?(<filter>)]` step inside a path: keeps the elements the filter matches."""

    expression: str


Step = str | int | FilterStep


def parse_path(path: str) -> tuple[str, list[Step]]:
    root, rest = path[0], path[1:]
    steps: list[Step] = []
    i = 0
    while i < len(rest):
        if rest[i] == ".":
            i += 1
            end = i
            while end < len(rest) and rest[end] not in ".[":
                end += 1
            name = rest[i:end]
            if not name:
                raise MatcherSyntaxError(f"empty property name in path {path!r}")
            steps.append(name)
            i = end
        elif rest[i] == "[":
            end = _matching_bracket(rest, i, "[", "]")
            inside = rest[i + 1 : end - 1].strip()
            if inside == "*":
                steps.append("*")
            elif inside[:1] in "'\"":
                steps.append(_read_string(inside, 0)[0])
            elif re.fullmatch(r"-?\d+", inside):
                steps.append(int(inside))
            elif inside.startswith("?(") and inside.endswith(")"):
                steps.append(FilterStep(inside[2:-1]))
            else:
                raise MatcherSyntaxError(f"unsupported bracket [{inside}] in path {path!r}")
            i = end
        else:
            raise MatcherSyntaxError(f"unexpected {rest[i]!r} in path {path!r}")
    return root, steps
