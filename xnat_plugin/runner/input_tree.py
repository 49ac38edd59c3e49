"""Resolve a wrapper's inputs as a tree, the way Container Service 3.7.3 does.

External inputs are roots; a derived input hangs under the input it is derived from; a command
input hangs under the wrapper input that provides its value (else it is a root). Each node
resolves to zero, one or several values (a session has several scans), and every value
resolves its own children. Template keys (`#name#`) are filled in as the walk goes, so a
matcher can use an earlier input's value (`@.scan-type in [#T1-scantype#]`). Every value is
passed through the input filter, defaults and values read from XNAT included.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xnat_plugin.commands.input_filter import check_input_value
from xnat_plugin.commands.model import CommandInput, CommandWrapper, DerivedInput, WrapperInput
from xnat_plugin.runner.jsonpath_values import resolve_jsonpath_substring
from xnat_plugin.runner.matchers import compile_matcher
from xnat_plugin.runner.xnat_objects import XnatObject, XnatObjectLoader

log = logging.getLogger(__name__)

AnyInput = WrapperInput | CommandInput

# Which parent types each object type can be derived from, and how (Container Service 3.7.3,
# `resolveDerivedWrapperInput`): "child" reads the parent's JSON list, "load" fetches by ID.
_CHILD_LISTS: dict[tuple[str, str], str] = {
    ("Subject", "Project"): "subjects",
    ("ProjectAsset", "Project"): "project-assets",
    ("Session", "Subject"): "sessions",
    ("SubjectAssessor", "Subject"): "subject-assessors",
    ("Scan", "Session"): "scans",
    ("Assessor", "Session"): "assessors",
    ("File", "Resource"): "files",
    ("File[]", "Resource"): "files",
    **{
        ("Resource", parent): "resources"
        for parent in (
            "Project",
            "ProjectAsset",
            "Subject",
            "Session",
            "Scan",
            "Assessor",
            "SubjectAssessor",
        )
    },
}
_PARENT_LOOKUPS: dict[tuple[str, str], str] = {
    **{
        ("Project", parent): "project-id"
        for parent in ("ProjectAsset", "Session", "Subject", "Scan", "Assessor", "SubjectAssessor")
    },
    ("Subject", "Session"): "subject-id",
    ("Subject", "SubjectAssessor"): "subject-id",
    ("Session", "Scan"): "session-id",
    ("Session", "Assessor"): "session-id",
}
STRING_PARENT_TYPES = (
    "Project",
    "ProjectAsset",
    "Subject",
    "SubjectAssessor",
    "Session",
    "Scan",
    "Assessor",
    "File",
    "Resource",
)
LOADABLE_TYPES = ("Project", "Subject", "Session", "Scan", "Assessor", "Resource")


class ResolutionError(Exception):
    """Container Service's CommandResolutionException: the launch fails in resolution."""


@dataclass
class InputNode:
    """One input in the tree (its resolved values come later)."""

    input: AnyInput
    is_command_input: bool
    parent: InputNode | None = None
    children: list[InputNode] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.input.name


@dataclass
class ResolvedValue:
    value: str | None
    obj: XnatObject | None = None
    children: list[ResolvedNode] = field(default_factory=list)

    @property
    def label(self) -> str | None:
        return self.obj.label if self.obj is not None else self.value


@dataclass
class ResolvedNode:
    node: InputNode
    values: list[ResolvedValue]


def build_input_tree(
    wrapper: CommandWrapper, command_inputs: list[CommandInput]
) -> list[InputNode]:
    """The root nodes: external inputs, then command inputs no wrapper input feeds."""
    by_name: dict[str, InputNode] = {}
    feeds: dict[str, InputNode] = {}
    roots: list[InputNode] = []
    for external in wrapper.external_inputs:
        node = InputNode(external, False)
        roots.append(node)
        by_name[external.name] = node
        if external.provides_value_for_command_input:
            feeds[external.provides_value_for_command_input] = node
    for derived in wrapper.derived_inputs_in_resolution_order():
        parent = by_name.get(derived.derived_from_wrapper_input or "")
        if parent is None:
            raise ResolutionError(
                f'Derived input "{derived.name}" claims parent '
                f'"{derived.derived_from_wrapper_input}", but I couldn\'t find it.'
            )
        node = InputNode(derived, False, parent)
        parent.children.append(node)
        by_name[derived.name] = node
        if derived.provides_value_for_command_input:
            feeds[derived.provides_value_for_command_input] = node
    for command_input in command_inputs:
        feeder = feeds.get(command_input.name)
        node = InputNode(command_input, True, feeder)
        if feeder is None:
            roots.append(node)
        else:
            feeder.children.append(node)
    return roots


def fill_template(template: str | None, values: Mapping[str, str | None]) -> str | None:
    """Replace every replacement key in `template` by its value ("" for None)."""
    if not template:
        return template
    for key, value in values.items():
        template = template.replace(key, value or "")
    return template


class InputResolver:
    """Walks the input tree for one launch."""

    def __init__(
        self,
        loader: XnatObjectLoader,
        runtime_values: Mapping[str, str],
        *,
        check_contexts: Callable[[XnatObject, WrapperInput], None] | None = None,
        command_json: Any = None,
        wrapper_json: Any = None,
    ) -> None:
        self.command_json = command_json
        self.wrapper_json = wrapper_json
        self.loader = loader
        self.runtime_values = runtime_values
        self.template_values: dict[str, str | None] = {}
        self.check_contexts = check_contexts

    def resolve(self, node: InputNode, parent: ResolvedValue | None) -> ResolvedNode:
        if node.is_command_input:
            assert isinstance(node.input, CommandInput)
            provided = parent.value if parent is not None else None
            values = [self._command_input(node.input, provided)]
        elif isinstance(node.input, DerivedInput):
            values = self._derived(node.input, parent) if parent is not None else []
        else:
            assert isinstance(node.input, WrapperInput)
            values = [self._external(node.input)]
        key = _replacement_key(node.input)
        for value in values:
            self.template_values[key] = value.value
            value.children = [self.resolve(child, value) for child in node.children]
        return ResolvedNode(node, values)

    # ----- the three kinds of input

    def _command_input(self, command_input: CommandInput, provided: str | None) -> ResolvedValue:
        value = command_input.default_value
        if self.runtime_values.get(command_input.name) is not None:
            value = self.runtime_values[command_input.name]
        if provided is not None:
            value = provided
        value = resolve_jsonpath_substring(value, self.command_json, self.wrapper_json)
        if command_input.type == "boolean":
            truthy = (value or "").strip().lower() == "true"
            mapped = command_input.true_value if truthy else command_input.false_value
            value = mapped if mapped is not None else value
        check_input_value(command_input.name, value)
        return ResolvedValue(value)

    def _external(self, external: WrapperInput) -> ResolvedValue:
        value = external.default_value
        if self.runtime_values.get(external.name) is not None:
            value = self.runtime_values[external.name]
        value = resolve_jsonpath_substring(value, self.command_json, self.wrapper_json)
        matcher = fill_template(external.matcher, self.template_values)
        obj: XnatObject | None = None
        if value and external.type in LOADABLE_TYPES:
            obj = self._load_external(external, value)
            if obj is not None and matcher and not compile_matcher(matcher).matches(obj.json):
                log.info("input %s: %s does not match %r", external.name, obj.uri, matcher)
                obj = None
            value = obj.uri if obj is not None else None
        check_input_value(external.name, value)
        return ResolvedValue(value, obj)

    def _load_external(self, external: WrapperInput, value: str) -> XnatObject | None:
        if value.startswith("{"):
            try:
                obj = XnatObject(external.type, json.loads(value))
            except json.JSONDecodeError:
                return None
        else:
            uri = value if value.startswith("/") else _uri_from_id(external.type, value)
            if uri is None:
                return None
            obj = self.loader.load(uri, load_children=external.load_children)
        if obj.kind != external.type:
            log.info(
                "input %s: %s is a %s, not a %s", external.name, value, obj.kind, external.type
            )
            return None
        if self.check_contexts is not None:
            self.check_contexts(obj, external)
        return obj

    def _derived(self, derived: DerivedInput, parent: ResolvedValue) -> list[ResolvedValue]:
        matcher = fill_template(derived.matcher, self.template_values)
        parser = fill_template(derived.parser, self.template_values)
        hint = self.runtime_values.get(derived.name) or derived.default_value
        parent_obj = parent.obj
        parent_type = parent_obj.kind if parent_obj is not None else ""
        prop = derived.derived_from_xnat_object_property
        objects: list[XnatObject] = []
        values: list[str | None]
        if derived.type == "string":
            if parent_obj is None or parent_type not in STRING_PARENT_TYPES:
                _incompatible(derived, parent_type)
                values = []
            else:
                found = _read_property(parent_obj.json, prop, matcher, parser)
                values = [found] if found is not None else []
        elif derived.type in ("boolean", "number"):
            values = []  # not implemented by Container Service either
        elif derived.type == "Directory":
            found = None
            if parent_obj is not None and parent_type == "Resource":
                found = _read_property(parent_obj.json, "directory", matcher, parser)
            else:
                _incompatible(derived, parent_type)
            values = [found] if found is not None else []
        else:
            objects = self._derived_objects(derived, parent_obj, matcher, hint)
            values = [obj.uri for obj in objects]
            if prop:
                values = [_read_property(obj.json, prop, None, parser) for obj in objects]
        resolved = []
        for position, value in enumerate(values):
            check_input_value(derived.name, value)
            resolved.append(ResolvedValue(value, objects[position] if objects else None))
        return resolved

    def _derived_objects(
        self,
        derived: DerivedInput,
        parent: XnatObject | None,
        matcher: str | None,
        hint: str | None,
    ) -> list[XnatObject]:
        if parent is None:
            log.error('Cannot derive input "%s": the parent has no XNAT object.', derived.name)
            return []
        kind = "File" if derived.type == "File[]" else derived.type
        child_list = _CHILD_LISTS.get((derived.type, parent.kind))
        if child_list is not None:
            children = parent.children(child_list)
            if not children and child_list in ("subjects", "sessions", "resources"):
                # A parent loaded without children (load-children: false): fetch them now.
                children = self.loader.load(parent.uri).children(child_list)
            for key in ("uri", "id", "label"):
                found = _match_children(children, key, hint, matcher, derived.multiple)
                if found or not hint:
                    return [XnatObject(kind, child) for child in found]
            return []
        parent_key = _PARENT_LOOKUPS.get((derived.type, parent.kind))
        if parent_key is not None:
            related = parent.json.get(parent_key)
            if not related:
                return []
            uri = _uri_from_id(derived.type, str(related))
            return [self.loader.load(uri, load_children=derived.load_children)] if uri else []
        _incompatible(derived, parent.kind)
        return []


def _replacement_key(an_input: AnyInput) -> str:
    return an_input.effective_replacement_key


def _uri_from_id(kind: str, identifier: str) -> str | None:
    prefixes = {"Project": "/projects/", "Subject": "/subjects/", "Session": "/experiments/"}
    prefix = prefixes.get(kind)
    return f"{prefix}{identifier}" if prefix else None


def _incompatible(derived: DerivedInput, parent_type: str) -> None:
    log.error(
        'An input of type "%s" cannot be derived from an input of type "%s" (input "%s").',
        derived.type,
        parent_type or "none",
        derived.name,
    )


def _match_children(
    children: list[dict[str, Any]],
    key: str,
    hint: str | None,
    matcher: str | None,
    multiple: bool,
) -> list[dict[str, Any]]:
    """`$.<children>[?(@.<key> == 'hint' && matcher)]`, as matchChildFromParent builds it."""
    kept = children
    if hint:
        wanted: list[Any] = [hint]
        if multiple:
            try:
                parsed = json.loads(hint)
                wanted = parsed if isinstance(parsed, list) else [hint]
            except json.JSONDecodeError:
                pass
        kept = [child for child in kept if child.get(key) in wanted]
    if matcher:
        kept = compile_matcher(matcher).filter(kept)
    return kept


def _read_property(
    document: dict[str, Any], prop: str | None, matcher: str | None, parser: str | None
) -> str | None:
    """`$.<prop>` of the parent (with the matcher as a filter), then the optional parser."""
    if not prop:
        return None
    value = document.get(prop)
    if matcher:
        candidates = value if isinstance(value, list) else [value]
        kept = compile_matcher(matcher).filter(c for c in candidates if c is not None)
        value = kept[0] if kept else None
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    if parser:
        # Container Service tries XPath first, then a regular expression matched whole.
        try:
            found = re.fullmatch(parser, text)
        except re.error:
            return None
        return found.group(0) if found else None
    return text
