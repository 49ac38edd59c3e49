"""Upload a finished command's outputs, in output-handler order (Container Service's finalize).

Only a command that exited 0 is finalized. Each handler takes the entries directly under
`<mount>/<path>` (a file path is its own single entry):
- `Resource`: uploads them (sub-folders kept) into resource `label` of the parent, which is a
  wrapper input's object or the object an earlier handler created;
- `Assessor`: needs exactly one entry, an `.xml` file, which becomes an assessor of the parent
  session (XNAT assigns the ID when the XML has none); later handlers can put resources under
  it.
A failure is recorded and the next handler still runs; any failed REQUIRED output makes the
container `Failed (Upload)`, a failed optional one is only logged.

Outputs never follow links: an output that holds a symbolic link (or a device, a pipe, a socket)
anywhere on its path or below it is refused whole, never uploaded. A container can write a link
to any host path into its output mount, and finalization reads on the host.
"""

from __future__ import annotations

import logging
import os
import stat
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from xnat_plugin.errors import UserError
from xnat_plugin.runner.resolved import ResolvedCommand, ResolvedOutput
from xnat_plugin.runner.xnat_rest import XnatRest, data_path

log = logging.getLogger(__name__)


class OutputUploadError(Exception):
    """One output could not be uploaded (XNAT's ContainerException during finalization)."""


@dataclass
class UploadReport:
    """What finalization created, and what failed."""

    created: dict[str, str] = field(default_factory=dict)  # handler name → created URI
    failures: list[str] = field(default_factory=list)  # messages of failed REQUIRED outputs
    skipped: list[str] = field(default_factory=list)  # messages of failed optional outputs

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {"created": dict(self.created), "failures": self.failures, "skipped": self.skipped}


def upload_outputs(resolved: ResolvedCommand, xnat: XnatRest) -> UploadReport:
    """Upload every output of `resolved` (mounts already staged and filled). Outputs holding a
    link are checked before anything is uploaded: a required one refuses the whole upload."""
    report = UploadReport()
    with_links = _outputs_with_links(resolved)
    if any(output.required for output in resolved.outputs if output.name in with_links):
        for output in resolved.outputs:
            if output.name in with_links:
                message = f'Cannot upload output "{output.name}": {with_links[output.name]}'
                log.error("%s", message)
                (report.failures if output.required else report.skipped).append(message)
        return report
    for output in resolved.outputs:
        if output.name in with_links:
            message = f'Cannot upload output "{output.name}": {with_links[output.name]}'
            log.error("%s", message)
            report.skipped.append(message)
            continue
        try:
            uri = _upload_one(resolved, output, report.created, xnat)
        except (OutputUploadError, UserError, OSError) as exc:
            message = f'Cannot upload output "{output.name}": {exc}'
            log.error("%s", message)
            (report.failures if output.required else report.skipped).append(message)
            continue
        report.created[output.handler] = uri
        log.info('uploaded output "%s" → %s', output.name, uri)
    return report


def _outputs_with_links(resolved: ResolvedCommand) -> dict[str, str]:
    """Output name → why it is refused, for outputs holding a link or a special file."""
    refused = {}
    for output in resolved.outputs:
        try:
            mount = resolved.mount(output.mount)
        except KeyError:
            continue
        if mount.host_path is None:
            continue
        root = mount.host_path / output.path if output.path else mount.host_path
        try:
            refuse_links(mount.host_path, root)
        except OutputUploadError as exc:
            refused[output.name] = str(exc)
    return refused


def _entries(resolved: ResolvedCommand, output: ResolvedOutput) -> tuple[Path, list[Path]]:
    try:
        mount = resolved.mount(output.mount)
    except KeyError:
        raise OutputUploadError(f'Mount "{output.mount}" does not exist.') from None
    if mount.host_path is None:
        raise OutputUploadError("The path to the files on the XNAT machine is blank.")
    root = mount.host_path / output.path if output.path else mount.host_path
    refuse_links(mount.host_path, root)
    if not root.resolve().is_relative_to(mount.host_path.resolve()):
        raise OutputUploadError(f'path "{output.path}" leaves mount "{output.mount}"')
    if root.is_dir():
        return root, sorted(root.iterdir())
    return root, [root]


def refuse_links(mount_root: Path, output_root: Path) -> None:
    """Raise OutputUploadError unless the path from `mount_root` down to `output_root`, and
    everything below it, is plain folders and regular files (links are never followed)."""
    relative = output_root.relative_to(mount_root) if output_root != mount_root else Path()
    path = mount_root
    for part in ("", *relative.parts):
        path = path / part if part else path
        _check_entry(path, mount_root, must_exist=False)
    if not output_root.is_dir() or output_root.is_symlink():
        return
    for dirpath, dirnames, filenames in os.walk(output_root, followlinks=False):
        for name in (*dirnames, *filenames):
            _check_entry(Path(dirpath) / name, mount_root, must_exist=True)


def _check_entry(path: Path, mount_root: Path, *, must_exist: bool) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        if must_exist:
            raise OutputUploadError(f"{path.name} vanished while the output was checked") from None
        return
    where = path.relative_to(mount_root) if path != mount_root else Path(".")
    if stat.S_ISLNK(mode):
        raise OutputUploadError(
            f"{where} is a symbolic link; outputs must be plain files and folders (links are "
            "never followed), so nothing of this output was uploaded"
        )
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise OutputUploadError(
            f"{where} is not a regular file or folder (a device, pipe or socket); nothing of "
            "this output was uploaded"
        )


def _parent_uri(output: ResolvedOutput, created: dict[str, str]) -> str:
    if output.parent is not None:
        return output.parent.uri
    if output.parent_handler and output.parent_handler in created:
        return created[output.parent_handler]
    raise OutputUploadError(
        f'Could not instantiate object from input "{output.parent_input or output.parent_handler}".'
    )


def _upload_one(
    resolved: ResolvedCommand, output: ResolvedOutput, created: dict[str, str], xnat: XnatRest
) -> str:
    root, entries = _entries(resolved, output)
    parent_uri = _parent_uri(output, created)
    if not parent_uri.startswith("/archive"):
        parent_uri = "/archive" + parent_uri
    if output.type == "Resource":
        return _upload_resource(output, parent_uri, root, entries, xnat)
    if output.type == "Assessor":
        return _upload_assessor(output, parent_uri, entries, xnat)
    raise OutputUploadError(f"output handlers of type {output.type!r} are not supported here")


def _upload_resource(
    output: ResolvedOutput, parent_uri: str, root: Path, entries: list[Path], xnat: XnatRest
) -> str:
    if not root.exists():
        raise OutputUploadError(f"Could not upload files to resource: {root} does not exist")
    label = output.label or output.command_output
    query = {
        key: value
        for key, value in {
            "format": output.format,
            "content": output.content,
            "description": output.description,
            "tags": ",".join(output.tags) if output.tags else None,
        }.items()
        if value
    }
    if root.is_file():
        xnat.create_resource(parent_uri, label, query)
        xnat.upload_file(parent_uri, label, root.name, root)
    elif any(path.is_file() for path in root.rglob("*")):
        # Every entry under the output path, sub-folders kept, each file checked by MD5.
        xnat.upload_folder(parent_uri, label, root, query)
    else:
        xnat.create_resource(parent_uri, label, query)
    log.info("uploaded %d entries of %s to %s resource %s", len(entries), root, parent_uri, label)
    return f"{parent_uri}/resources/{label}"


def _upload_assessor(
    output: ResolvedOutput, parent_uri: str, entries: list[Path], xnat: XnatRest
) -> str:
    if len(entries) != 1 or entries[0].suffix.lower() != ".xml" or not entries[0].is_file():
        found = [entry.name for entry in entries if entry.exists()]
        raise OutputUploadError(
            f"Expecting precisely one xml file to upload for Assessor; found {found}"
        )
    xml = entries[0].read_bytes()
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise OutputUploadError(f"Could not insert item from XML file {entries[0]}: {exc}") from exc
    label = root.get("label") or output.label
    if not label:
        raise OutputUploadError(f"the assessor XML {entries[0].name} has no label attribute")
    session_uri = _session_of(parent_uri, root)
    answer = xnat.put_assessor_xml(session_uri, label, xml)
    # XNAT answers the new assessor's ID; fall back to looking the label up.
    if answer and len(answer) < 64 and not any(c.isspace() for c in answer):
        assessor_id: str | None = answer
    else:
        assessor_id = root.get("ID") or _assessor_id(xnat, session_uri, label)
    if not assessor_id:
        raise OutputUploadError(f"XNAT did not report the ID of assessor {label}")
    return f"{session_uri}/assessors/{assessor_id}"


def _session_of(parent_uri: str, root: ElementTree.Element) -> str:
    """The session an assessor belongs to: the handler's parent, or the XML's session ID."""
    if "/experiments/" in parent_uri and "/assessors/" not in parent_uri:
        return parent_uri
    for element in root.iter():
        if element.tag.endswith("imageSession_ID") and element.text:
            return f"/archive/experiments/{element.text.strip()}"
    raise OutputUploadError(f"cannot tell which session the assessor belongs to ({parent_uri})")


def _assessor_id(xnat: XnatRest, session_uri: str, label: str) -> str | None:
    rows = xnat.get_json(f"{data_path(session_uri)}/assessors")
    for row in rows.get("ResultSet", {}).get("Result", []):
        if row.get("label") == label:
            return str(row.get("ID") or row.get("id"))
    log.warning("assessor %s not listed under %s after upload", quote(label), session_uri)
    return None
