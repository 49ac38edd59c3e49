"""Resolve a command wrapper against an XNAT object: Container Service's command resolution.

`resolve_wrapper` does what XNAT does between "Launch" and "Staging": apply the project's
configuration (defaults, matchers), resolve the input tree from the target URI (type and
context checks, derived inputs through matchers), insist on unique values where one is needed,
check required inputs, run every value through the input filter, then fill the command line
(`#KEY#` → flag + separator + value), environment, working directory, mounts and output
handlers. Failures raise `CommandResolutionError` with XNAT's wording.

`preresolve` answers the launch UI: for each input, the values it can take on this target.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from xnat_plugin.commands.input_filter import IllegalInputError
from xnat_plugin.commands.model import (
    Command,
    CommandInput,
    CommandWrapper,
    DerivedInput,
    WrapperInput,
)
from xnat_plugin.runner.command_line import command_line_value, multiple_values_for_command_line
from xnat_plugin.runner.errors import CommandResolutionError
from xnat_plugin.runner.input_tree import (
    InputNode,
    InputResolver,
    ResolutionError,
    ResolvedNode,
    build_input_tree,
    fill_template,
)
from xnat_plugin.runner.matcher_syntax import MatcherSyntaxError
from xnat_plugin.runner.mounts_and_outputs import resolve_mounts, resolve_outputs
from xnat_plugin.runner.resolved import ResolvedCommand
from xnat_plugin.runner.shell_line import Piece, ShellLine
from xnat_plugin.runner.xnat_objects import OBJECT_TYPES, XnatObject, XnatObjectLoader
from xnat_plugin.runner.xnat_rest import JsonGetter
from xnat_plugin.runner.xsi_types import matches_contexts

log = logging.getLogger(__name__)


def apply_project_config(
    command: Command, wrapper_name: str, config: Mapping[str, Any] | None
) -> tuple[Command, CommandWrapper]:
    """A copy of (command, wrapper) with the project's `{"inputs": {...}, "outputs": {...}}`
    configuration applied: `default-value` and `matcher` override when given, `user-settable`
    replaces, output handler `label` overrides."""
    command = command.model_copy(deep=True)
    wrapper = command.wrapper(wrapper_name)
    if not config:
        return command, wrapper
    inputs_config = config.get("inputs") or {}
    every_input: list[CommandInput | WrapperInput] = [*command.inputs, *wrapper.inputs]
    for an_input in every_input:
        settings = inputs_config.get(an_input.name) or {}
        if settings.get("default-value") is not None:
            an_input.default_value = str(settings["default-value"])
        if settings.get("matcher") is not None:
            an_input.matcher = settings["matcher"]
        if isinstance(an_input, WrapperInput) and settings.get("user-settable") is not None:
            an_input.user_settable = bool(settings["user-settable"])
    outputs_config = config.get("outputs") or {}
    for handler in wrapper.output_handlers:
        label = (outputs_config.get(handler.name) or {}).get("label")
        if label is not None:
            handler.label = label
    return command, wrapper


def root_input_name(wrapper: CommandWrapper) -> str | None:
    """The external input a launch target feeds: the first one of an XNAT object type."""
    for external in wrapper.external_inputs:
        if external.type in OBJECT_TYPES:
            return external.name
    return wrapper.external_inputs[0].name if wrapper.external_inputs else None


def _runtime_values(
    wrapper: CommandWrapper,
    target_uri: str | None,
    user_inputs: Mapping[str, str] | None,
    root_input: str | None,
) -> tuple[dict[str, str], str | None]:
    values = {key: str(value) for key, value in (user_inputs or {}).items()}
    root = root_input or root_input_name(wrapper)
    if root_input is not None and root_input not in {e.name for e in wrapper.external_inputs}:
        raise CommandResolutionError(
            f'Wrapper "{wrapper.name}" has no external input "{root_input}" to launch on.'
        )
    if target_uri is not None and root is not None:
        values[root] = target_uri
    return values, root


def _context_checker(
    wrapper: CommandWrapper, root: str | None
) -> Callable[[XnatObject, WrapperInput], None]:
    def check(obj: XnatObject, external: WrapperInput) -> None:
        # Container Service checks contexts when it offers a wrapper; a wrapper with none
        # (as in its own test commands) is launched through the API without the check.
        if not wrapper.contexts or external.name != root:
            return
        if not matches_contexts(obj.xsi_type, wrapper.contexts):
            contexts = ", ".join(wrapper.contexts) or "none"
            raise CommandResolutionError(
                f'Wrapper "{wrapper.name}" cannot run on {obj.uri} ({obj.xsi_type}): its '
                f"contexts are {contexts}; pick an object of one of those types"
            )

    return check


def _resolve_tree(
    command: Command,
    wrapper: CommandWrapper,
    target_uri: str | None,
    user_inputs: Mapping[str, str] | None,
    root_input: str | None,
    xnat: JsonGetter,
) -> list[ResolvedNode]:
    runtime_values, root = _runtime_values(wrapper, target_uri, user_inputs, root_input)
    resolver = InputResolver(
        XnatObjectLoader(xnat),
        runtime_values,
        check_contexts=_context_checker(wrapper, root),
        command_json=command.to_dict(),
        wrapper_json=wrapper.to_dict(),
    )
    roots = build_input_tree(wrapper, command.inputs)
    try:
        return [resolver.resolve(root, None) for root in roots]
    except (ResolutionError, IllegalInputError, MatcherSyntaxError) as exc:
        raise CommandResolutionError(str(exc)) from None


def resolve_wrapper(
    command: Command,
    wrapper_name: str,
    target_uri: str | None,
    user_inputs: Mapping[str, str] | None,
    xnat: JsonGetter,
    project_config: Mapping[str, Any] | None = None,
    *,
    root_input: str | None = None,
) -> ResolvedCommand:
    """Resolve `wrapper_name` of `command` on the object at `target_uri` (or raise
    CommandResolutionError with the message XNAT would record)."""
    command, wrapper = apply_project_config(command, wrapper_name, project_config)
    trees = _resolve_tree(command, wrapper, target_uri, user_inputs, root_input, xnat)
    collected = _Collected()
    for tree in trees:
        _collect_values(tree, collected)
    missing = [name for tree in trees for name in _missing_required(tree)]
    if missing:
        plural = "" if len(missing) == 1 else "s"
        raise CommandResolutionError(
            f"Missing values for required input{plural}: {', '.join(missing)}."
        )
    template = collected.template_values
    outputs = resolve_outputs(command, wrapper, collected.objects, collected.values, template)
    mounts = resolve_mounts(command, collected.mount_sources, template)
    environment = {
        name: fill_template(value, template) or ""
        for name, value in command.environment_variables.items()
    }
    project = _project_of(collected.objects)
    every_input: list[CommandInput | WrapperInput] = [*command.inputs, *wrapper.inputs]
    sensitive = {an_input.name for an_input in every_input if an_input.sensitive}
    # The one place values enter the command line: each is quoted where it lands.
    shell_line = ShellLine.from_template(command.command_line, collected.command_line_values)
    shell_line.render()  # refuses a template that puts a value right after a backslash
    return ResolvedCommand(
        sensitive_inputs=sensitive,
        command=command,
        wrapper=wrapper,
        project=project,
        input_values=collected.values,
        input_objects=collected.objects,
        shell_line=shell_line,
        environment=environment,
        working_directory=fill_template(command.working_directory, template),
        mounts=mounts,
        outputs=outputs,
    )


# --------------------------------------------------------------------------- collected values


class _Collected:
    def __init__(self) -> None:
        self.template_values: dict[str, str | None] = {}
        self.command_line_values: dict[str, list[Piece]] = {}
        self.values: dict[str, str | None] = {}
        self.objects: dict[str, XnatObject] = {}
        self.mount_sources: dict[str, ResolvedNode] = {}


def _collect_values(tree: ResolvedNode, collected: _Collected) -> None:
    """Container Service's findResolvedValues: unique values fill the templates."""
    the_input = tree.node.input
    key = the_input.effective_replacement_key
    if isinstance(the_input, WrapperInput) and the_input.provides_files_for_command_mount:
        collected.mount_sources[the_input.provides_files_for_command_mount] = tree
    if tree.node.is_command_input and tree.node.parent is not None:
        parent_input = tree.node.parent.input
        if not parent_input.required:
            # A non-required feeder that resolves to nothing leaves no `#KEY#` behind.
            collected.command_line_values.setdefault(key, [])
    if len(tree.values) == 1:
        single = tree.values[0]
        value = single.value or ""
        collected.template_values[key] = value
        collected.values[the_input.name] = single.value
        if single.obj is not None:
            collected.objects[the_input.name] = single.obj
        if isinstance(the_input, CommandInput):
            collected.command_line_values[key] = command_line_value(
                the_input, value, sensitive=_is_sensitive(tree)
            )
        for child in single.children:
            _collect_values(child, collected)
        return
    if isinstance(the_input, DerivedInput) and the_input.multiple:
        _collect_multiple(tree, the_input, collected)
        return
    if tree.values:
        message = (
            f'Input "{the_input.name}"  does not have a unique, resolved value and '
            "multiple = true is not set in command.json."
        )
    else:
        message = (
            f'Input "{the_input.name}" could not be resolved for this item. You might check '
            "the JSONPath matchers in command.json and confirm that this item has "
            f"{the_input.type} data."
        )
    if the_input.required:
        raise CommandResolutionError(message)
    log.debug(message)


def _collect_multiple(tree: ResolvedNode, derived: DerivedInput, collected: _Collected) -> None:
    command_input: CommandInput | None = None
    child_values: list[str] = []
    for value in tree.values:
        feeds = [c for c in value.children if isinstance(c.node.input, CommandInput)]
        if len(value.children) != 1 or len(feeds) != 1 or len(feeds[0].values) != 1:
            raise CommandResolutionError(
                f"{derived.name} must have precisely one command input child element"
            )
        assert isinstance(feeds[0].node.input, CommandInput)
        command_input = command_input or feeds[0].node.input
        if feeds[0].values[0].value:
            child_values.append(feeds[0].values[0].value or "")
    if command_input is None:
        if derived.required:
            raise CommandResolutionError(
                f"{derived.name} must have precisely one command input child element"
            )
        return
    # Java's List.toString: "[a, b]".
    listed = "[" + ", ".join(child_values) + "]"
    collected.template_values[command_input.effective_replacement_key] = listed
    collected.template_values[derived.effective_replacement_key] = listed
    collected.values[derived.name] = listed
    collected.values[command_input.name] = listed
    collected.command_line_values[command_input.effective_replacement_key] = (
        multiple_values_for_command_line(
            command_input,
            child_values,
            sensitive=bool(command_input.sensitive or derived.sensitive),
        )
    )


def _is_sensitive(tree: ResolvedNode) -> bool:
    """A command input's value is sensitive when the input or the wrapper input feeding it is."""
    feeder = tree.node.parent.input if tree.node.parent is not None else None
    return bool(tree.node.input.sensitive or (feeder is not None and feeder.sensitive))


def _missing_required(tree: ResolvedNode) -> list[str]:
    missing: list[str] = []
    for value in tree.values:
        for child in value.children:
            missing.extend(_missing_required(child))
    if tree.node.input.required and not any(v.value is not None for v in tree.values):
        missing.append(tree.node.input.name)
    return missing


def _project_of(objects: Mapping[str, XnatObject]) -> str | None:
    for obj in objects.values():
        if obj.kind == "Project":
            return obj.id
        project = obj.json.get("project-id")
        if project:
            return str(project)
    return None


# --------------------------------------------------------------------------- launch UI


def preresolve(
    command: Command,
    wrapper_name: str,
    target_uri: str | None,
    xnat: JsonGetter,
    user_inputs: Mapping[str, str] | None = None,
    project_config: Mapping[str, Any] | None = None,
    *,
    root_input: str | None = None,
) -> dict[str, Any]:
    """For the launch UI: each wrapper input's possible values on this target.

    Returns `{"inputs": {name: {"type", "label", "required", "user-settable",
    "default-value", "values": [{"value", "label"}], "parent"}}, "command-line-inputs": …}`.
    Nothing is refused for having several values here; a required derived input with no
    possible value is refused, as XNAT's UI refuses it.
    """
    command, wrapper = apply_project_config(command, wrapper_name, project_config)
    trees = _resolve_tree(command, wrapper, target_uri, user_inputs, root_input, xnat)
    report: dict[str, dict[str, Any]] = {}
    for tree in trees:
        _describe(tree, report)
    for name, entry in report.items():
        if entry["derived"] and entry["required"] and not entry["values"]:
            raise CommandResolutionError(
                "The following required fields cannot be resolved using the provided data: " + name
            )
    return {"wrapper": wrapper.name, "target": target_uri, "inputs": report}


def _describe(tree: ResolvedNode, report: dict[str, dict[str, Any]]) -> None:
    node: InputNode = tree.node
    the_input = node.input
    entry = report.setdefault(
        the_input.name,
        {
            "type": the_input.type,
            "label": the_input.label,
            "description": the_input.description,
            "required": the_input.required,
            "derived": isinstance(the_input, DerivedInput),
            "command-input": node.is_command_input,
            "user-settable": getattr(the_input, "user_settable", None) is not False,
            "default-value": the_input.default_value,
            "parent": node.parent.name if node.parent is not None else None,
            "values": [],
        },
    )
    for value in tree.values:
        if value.value is not None and all(v["value"] != value.value for v in entry["values"]):
            choice: dict[str, Any] = {"value": value.value, "label": value.label}
            if value.obj is not None and value.obj.kind == "Resource":
                # What the launch form offers for a resource: its top-level folders
                # (MONAI_MODELS/<model-name>/… lists the models a project holds).
                choice["folders"] = _top_level_folders(value.obj)
            entry["values"].append(choice)
        for child in value.children:
            _describe(child, report)


def _top_level_folders(resource: XnatObject) -> list[str]:
    names = {str(f.get("name", "")) for f in resource.children("files")}
    return sorted({name.split("/", 1)[0] for name in names if "/" in name})
