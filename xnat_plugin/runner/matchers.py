"""Jayway-JsonPath filter expressions, the `matcher` of a Container Service wrapper input.

Container Service applies a matcher `M` to an XNAT object's JSON as `$[?(M)]` (or, for
children, `$.scans[?(M)]`), so `M` is the inside of a Jayway filter: paths from `@` (the item)
or `$` (the whole document), literals (`'text'`, `"text"`, numbers, `true`, `false`, `null`,
arrays `['a', 'b']`, regexes `/pattern/i`), the relational operators `== != < <= > >= =~ in
nin subsetof anyof noneof contains size empty`, `&&`, `||`, `!` and parentheses. A bare path
tests that the property exists. Semantics follow Jayway 2.x as Container Service uses it:
a missing property makes a comparison false, `=~` must match the whole string, values of
different kinds are never equal. Text that Jayway could not compile is refused with
`MatcherSyntaxError` instead of silently matching nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from xnat_plugin.runner.matcher_syntax import (
    FilterStep,
    MatcherSyntaxError,
    Step,
    Token,
    parse_path,
    tokenize,
)

_MISSING: Any = object()


def _read_path(document: Any, steps: list[Step]) -> Any:
    """The value at `steps`, `_MISSING` if absent; a list when the path has a wildcard."""
    indefinite = not _is_definite(steps)
    current: list[Any] = [document]
    for step in steps:
        following: list[Any] = []
        for node in current:
            if isinstance(step, FilterStep):
                # Jayway filters an array's elements, or an object as a whole.
                candidates = node if isinstance(node, list) else [node]
                matcher = compile_matcher(step.expression)
                following.extend(c for c in candidates if matcher.matches(c, document))
            elif step == "*":
                if isinstance(node, list):
                    following.extend(node)
                elif isinstance(node, dict):
                    following.extend(node.values())
            elif isinstance(step, int):
                if isinstance(node, list) and -len(node) <= step < len(node):
                    following.append(node[step])
            elif isinstance(node, dict) and step in node:
                following.append(node[step])
        current = following
    if indefinite:
        return current
    return current[0] if current else _MISSING


# --------------------------------------------------------------------------- evaluation

_Predicate = Callable[[Any, Any], bool]


def _same(left: Any, right: Any) -> bool:
    # Jayway never equates values of different kinds (a boolean is not the number 1).
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    numeric = (int, float)
    if isinstance(left, numeric) and isinstance(right, numeric):
        return float(left) == float(right)
    return type(left) is type(right) and left == right


def _order(left: Any, right: Any, compare: Callable[[Any, Any], bool]) -> bool:
    numeric = (int, float)
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    if isinstance(left, numeric) and isinstance(right, numeric):
        return compare(left, right)
    if isinstance(left, str) and isinstance(right, str):
        return compare(left, right)
    return False


def _contains_value(collection: Any, value: Any) -> bool:
    return isinstance(collection, list) and any(_same(item, value) for item in collection)


def _regex_match(left: Any, right: Any) -> bool:
    if not isinstance(right, re.Pattern):
        raise MatcherSyntaxError("the right side of =~ must be a /regular expression/")
    return isinstance(left, str) and right.fullmatch(left) is not None


def _size(left: Any, right: Any) -> bool:
    return isinstance(left, str | list) and _same(len(left), right)


def _empty(left: Any, right: Any) -> bool:
    return isinstance(left, str | list) and isinstance(right, bool) and (len(left) == 0) == right


def _contains(left: Any, right: Any) -> bool:
    if isinstance(left, str):
        return isinstance(right, str) and right in left
    return _contains_value(left, right)


_OPERATORS: dict[str, _Predicate] = {
    "==": _same,
    "!=": lambda a, b: not _same(a, b),
    "<": lambda a, b: _order(a, b, lambda x, y: x < y),
    "<=": lambda a, b: _order(a, b, lambda x, y: x <= y),
    ">": lambda a, b: _order(a, b, lambda x, y: x > y),
    ">=": lambda a, b: _order(a, b, lambda x, y: x >= y),
    "=~": _regex_match,
    "in": lambda a, b: _contains_value(b, a),
    "nin": lambda a, b: isinstance(b, list) and not _contains_value(b, a),
    "subsetof": lambda a, b: isinstance(a, list) and all(_contains_value(b, x) for x in a),
    "anyof": lambda a, b: isinstance(a, list) and any(_contains_value(b, x) for x in a),
    "noneof": lambda a, b: isinstance(a, list) and not any(_contains_value(b, x) for x in a),
    "contains": _contains,
    "size": _size,
    "empty": _empty,
}


@dataclass(frozen=True)
class _Operand:
    token: Token

    def value(self, item: Any, root: Any) -> Any:
        if self.token.kind == "path":
            origin, steps = self.token.value
            return _read_path(item if origin == "@" else root, steps)
        return self.token.value


class _Node:
    def evaluate(self, item: Any, root: Any) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class _Exists(_Node):
    operand: _Operand

    def evaluate(self, item: Any, root: Any) -> bool:
        value = self.operand.value(item, root)
        if isinstance(value, list) and self.operand.token.kind == "path":
            return bool(value) or _read_path_is_definite(self.operand)
        return value is not _MISSING


def _read_path_is_definite(operand: _Operand) -> bool:
    return _is_definite(operand.token.value[1])


def _is_definite(steps: list[Step]) -> bool:
    return not any(step == "*" or isinstance(step, FilterStep) for step in steps)


@dataclass(frozen=True)
class _Comparison(_Node):
    left: _Operand
    op: str
    right: _Operand

    def evaluate(self, item: Any, root: Any) -> bool:
        left = self.left.value(item, root)
        right = self.right.value(item, root)
        if left is _MISSING or right is _MISSING:
            return False
        return _OPERATORS[self.op](left, right)


@dataclass(frozen=True)
class _Not(_Node):
    inner: _Node

    def evaluate(self, item: Any, root: Any) -> bool:
        return not self.inner.evaluate(item, root)


@dataclass(frozen=True)
class _Logical(_Node):
    op: str
    parts: tuple[_Node, ...]

    def evaluate(self, item: Any, root: Any) -> bool:
        results = (part.evaluate(item, root) for part in self.parts)
        return all(results) if self.op == "and" else any(results)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise MatcherSyntaxError("the expression ends too early")
        self.position += 1
        return token

    def parse(self) -> _Node:
        node = self.logical("or")
        if self.peek() is not None:
            raise MatcherSyntaxError(f"unexpected {self.take().text!r}")
        return node

    def logical(self, kind: str) -> _Node:
        lower: Callable[[], _Node] = (lambda: self.logical("and")) if kind == "or" else self.unary
        parts = [lower()]
        while (token := self.peek()) is not None and token.kind == kind:
            self.take()
            parts.append(lower())
        return parts[0] if len(parts) == 1 else _Logical(kind, tuple(parts))

    def unary(self) -> _Node:
        token = self.take()
        if token.kind == "not":
            return _Not(self.unary())
        if token.kind == "lparen":
            inner = self.logical("or")
            if self.take().kind != "rparen":
                raise MatcherSyntaxError("missing ')'")
            return inner
        if token.kind in ("rparen", "op", "and", "or"):
            raise MatcherSyntaxError(f"expected a value, found {token.text!r}")
        left = _Operand(token)
        following = self.peek()
        if following is None or following.kind != "op":
            if token.kind != "path":
                raise MatcherSyntaxError(f"a literal alone is not a filter: {token.text!r}")
            return _Exists(left)
        op = self.take().text
        right_token = self.take()
        if right_token.kind in ("op", "and", "or", "not", "lparen", "rparen"):
            raise MatcherSyntaxError(f"expected a value after {op!r}, found {right_token.text!r}")
        if op == "=~" and right_token.kind != "regex":
            raise MatcherSyntaxError("the right side of =~ must be a /regular expression/")
        return _Comparison(left, op, _Operand(right_token))


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class Matcher:
    """A compiled matcher; `matches(item)` is what `$[?(matcher)]` keeps."""

    text: str
    _root: _Node

    def matches(self, item: Any, document: Any = None) -> bool:
        return self._root.evaluate(item, item if document is None else document)

    def filter(self, items: Iterable[Any], document: Any = None) -> list[Any]:
        return [item for item in items if self.matches(item, document)]


def compile_matcher(text: str) -> Matcher:
    """Compile a wrapper-input matcher; raises MatcherSyntaxError naming the problem."""
    if not text or not text.strip():
        raise MatcherSyntaxError("a matcher cannot be blank")
    try:
        tokens = tokenize(text)
        return Matcher(text, _Parser(tokens).parse())
    except MatcherSyntaxError as exc:
        raise MatcherSyntaxError(
            f'Matcher "{text}" is not a valid JSONPath filter: {exc}. '
            "Fix the matcher in the command JSON (e.g. \"@.label == 'DICOM'\")."
        ) from None


def matches(matcher: str | None, item: Any) -> bool:
    """True when `item` passes `matcher`; a blank matcher passes everything."""
    if matcher is None or not matcher.strip():
        return True
    return compile_matcher(matcher).matches(item)


def filter_children(items: Iterable[Any], matcher: str | None) -> list[Any]:
    """The children a derived input may take, as `$.<children>[?(matcher)]` keeps them."""
    if matcher is None or not matcher.strip():
        return list(items)
    return compile_matcher(matcher).filter(items)


def read_json_path(document: Any, path: str) -> list[Any]:
    """Every value a JSONPath such as `$.inputs[?(@.name == 'x')].default-value` reaches."""
    text = path.strip()
    if not text.startswith("$"):
        raise MatcherSyntaxError(f"a JSONPath starts with '$': {path!r}")
    _, steps = parse_path(text)
    found = _read_path(document, steps)
    if found is _MISSING:
        return []
    return found if not _is_definite(steps) else [found]
