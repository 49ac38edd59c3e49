"""Mounts and output handlers of a resolved command (Container Service 3.7.3 wording).

A mount fed by a wrapper input needs that input to be of a mountable type with exactly one
resolved object; a mount no input feeds becomes a writable build folder. Every command output
needs a handler; a handler's parent is a wrapper input with an XNAT object, or an earlier
handler of type Assessor or Scan. Problems with required outputs fail the resolution; those
with optional outputs only skip the handler.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

from xnat_plugin.commands.model import MOUNTABLE_WRAPPER_INPUT_TYPES, Command, CommandWrapper
from xnat_plugin.runner.errors import CommandResolutionError
from xnat_plugin.runner.input_tree import ResolvedNode, fill_template
from xnat_plugin.runner.resolved import ResolvedMount, ResolvedOutput
from xnat_plugin.runner.xnat_objects import XnatObject

log = logging.getLogger(__name__)


def resolve_mounts(
    command: Command,
    mount_sources: Mapping[str, ResolvedNode],
    template: Mapping[str, str | None],
) -> list[ResolvedMount]:
    """Each mount with the single object that feeds it, or none (a writable build folder)."""
    mounts = []
    for mount in command.mounts:
        container_path = fill_template(mount.path, template) or ""
        source = mount_sources.get(mount.name)
        if source is None:
            mounts.append(ResolvedMount(mount.name, container_path, True))
            continue
        the_input = source.node.input
        if the_input.type not in MOUNTABLE_WRAPPER_INPUT_TYPES:
            raise CommandResolutionError(
                "I don't know how to provide files to a mount from an input of type "
                f'"{the_input.type}".'
            )
        if len(source.values) > 1:
            raise CommandResolutionError(
                f'Input "{the_input.name}" has multiple resolved values. We can only use '
                "inputs with a single resolved value."
            )
        obj = source.values[0].obj if source.values else None
        if obj is None:
            raise CommandResolutionError(
                f'Input "{the_input.name}"\'s XnatModelObject value is null'
            )
        mounts.append(
            ResolvedMount(mount.name, container_path, mount.writable, the_input.name, obj)
        )
    return mounts


def resolve_outputs(
    command: Command,
    wrapper: CommandWrapper,
    objects: Mapping[str, XnatObject],
    unique_inputs: Collection[str],
    template: Mapping[str, str | None],
) -> list[ResolvedOutput]:
    """Every (command output, handler) pair in upload order, its parent checked."""
    handler_names = {handler.name for handler in wrapper.output_handlers}
    by_handler: dict[str, ResolvedOutput] = {}
    for output in command.outputs:
        handlers = [h for h in wrapper.output_handlers if h.accepts_command_output == output.name]
        if not handlers:
            raise CommandResolutionError(
                "No wrapper output handler was configured to handle command output "
                f'"{output.name}".'
            )
        for handler in handlers:
            target = handler.as_a_child_of or ""
            parent_obj = objects.get(target)
            # As in XNAT, only an input with exactly one resolved value can be a parent.
            is_input = target in unique_inputs
            problem = None
            if is_input and parent_obj is None:
                problem = (
                    f'Cannot resolve output "{output.name}". Input "{target}" is supposed to '
                    "handle the output, but it does not have an XNAT object value."
                )
            elif not is_input and target not in handler_names:
                problem = (
                    f'Cannot resolve output "{output.name}". The handler says the output is '
                    f'supposed to be handled by "{target}", but either that isn\'t an input, or '
                    "an output, or maybe the input does not have a uniquely resolved value."
                )
            elif not is_input:
                parent_handler = wrapper.output_handler(target)
                if handler.type != "Resource" or parent_handler.type not in ("Assessor", "Scan"):
                    problem = (
                        f'Cannot resolve handler "{handler.name}". Handler "{handler.name}" has '
                        f'type "{handler.type}"; target handler "{target}" has type '
                        f'"{parent_handler.type}". Handler "{handler.name}" must be type '
                        f'Resource, target handler "{target}" needs to be type Assessor OR Scan.'
                    )
            if problem is not None:
                if output.required:
                    raise CommandResolutionError(problem)
                log.error('Skipping handler "%s". %s', handler.name, problem)
                continue
            by_handler[handler.name] = ResolvedOutput(
                name=f"{output.name}:{handler.name}",
                command_output=output.name,
                handler=handler.name,
                required=output.required,
                mount=output.mount or "",
                path=fill_template(output.path, template) or "",
                type=handler.type,
                label=fill_template(handler.label, template),
                parent_input=target if is_input else None,
                parent_handler=None if is_input else target,
                parent=parent_obj if is_input else None,
                xsi_type=handler.xsi_type,
                format=fill_template(handler.format, template),
                description=fill_template(handler.description, template),
                content=fill_template(handler.content, template),
                tags=[fill_template(tag, template) or "" for tag in handler.tags],
            )
    ordered = []
    for handler in wrapper.output_handlers_in_upload_order():
        if handler.name not in by_handler:
            raise CommandResolutionError(
                f'Command wrapper output handler "{handler.name}" has no resolved output to handle.'
            )
        ordered.append(by_handler[handler.name])
    return ordered
