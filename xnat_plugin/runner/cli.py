"""`xnat-monai run`: run one wrapper of any command on one XNAT object, on this machine.

Resolution, staging, the run and the uploads are those of the Container Service (see
`engine.execute`); the command comes from a JSON file or from the XNAT's registered commands.
The container authenticates with an alias token of the given user when the XNAT issues them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _parse_inputs(pairs: list[str]) -> dict[str, str]:
    from xnat_plugin.errors import UserError

    values: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise UserError(f"--input {pair!r} is not NAME=VALUE; write e.g. --input epochs=5")
        values[name] = value
    return values


def _load_command(args: argparse.Namespace, xnat: Any) -> Any:
    from xnat_plugin.commands.model import find_wrapper, load_commands, parse_command
    from xnat_plugin.errors import UserError

    if args.command_file:
        command, _ = find_wrapper(load_commands(Path(args.command_file)), args.wrapper)
        return command
    if args.command_id is not None:
        data = xnat.get_json(f"/xapi/commands/{args.command_id}")
        return parse_command(data, where=f"command {args.command_id} of {args.xnat}")
    registered = xnat.get_json("/xapi/commands")
    commands = [parse_command(item) for item in registered if isinstance(item, dict)]
    if not commands:
        raise UserError(f"XNAT at {args.xnat} has no commands; pass --command-file")
    command, _ = find_wrapper(commands, args.wrapper)
    return command


def _project_config(xnat: Any, command: Any, wrapper: str, project: str | None, target: str) -> Any:
    """The project's configuration of a registered wrapper (the target's project by default)."""
    from xnat_plugin.errors import UserError
    from xnat_plugin.runner.xnat_objects import XnatObjectLoader

    if not command.id:
        return None
    if not project:
        try:
            obj = XnatObjectLoader(xnat, with_files=False).load(target, load_children=False)
        except UserError:
            return None
        project = obj.id if obj.kind == "Project" else obj.json.get("project-id")
        if not project:
            return None
    try:
        return xnat.get_json(
            f"/xapi/projects/{project}/commands/{command.id}/wrappers/{wrapper}/config"
        )
    except UserError:
        return None


def run_command(args: argparse.Namespace) -> int:
    from xnat_plugin.client.credentials import resolve_credentials
    from xnat_plugin.runner.backends import LaunchEnvironment, backend_named
    from xnat_plugin.runner.engine import execute
    from xnat_plugin.runner.xnat_rest import XnatRest

    credentials = resolve_credentials(args.xnat, args.user, args.password)
    xnat = XnatRest(args.xnat, credentials.user, credentials.password)
    command = _load_command(args, xnat)
    config = _project_config(xnat, command, args.wrapper, args.project, args.target)
    token = xnat.issue_alias_token()
    user, secret = token if token is not None else (credentials.user, credentials.password)
    launch = LaunchEnvironment(xnat.url, user, secret)

    def release() -> None:
        if token is not None:
            xnat.invalidate_alias_token(*token)

    record = execute(
        command,
        args.wrapper,
        args.target,
        _parse_inputs(args.input),
        xnat=xnat,
        launch=launch,
        workdir=Path(args.workdir),
        backend=backend_named(args.backend, container_user=args.container_user),
        project_config=config,
        release_credentials=release,
    )
    summary = {
        "id": record.id,
        "status": str(record.status),
        "exit-code": record.exit_code,
        "outputs": record.outputs_created,
        "workdir": str(record.workdir),
    }
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    last = record.history.events[-1]
    if record.status.is_failure:
        log.error("container %s ended %s: %s", record.id, record.status, last.message)
        for line in _tail(record.stderr_path):
            log.error("stderr: %s", line)
        return 1
    return 0


def _tail(path: Path, lines: int = 10) -> list[str]:
    if not path.is_file():
        return []
    return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a command's wrapper on one XNAT object here (process or Docker backend)",
        description=__doc__,
    )
    parser.add_argument("--xnat", required=True, help="XNAT base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--user", help="XNAT user (else XNAT_USER, else ~/.netrc)")
    parser.add_argument("--password", help="XNAT password (else XNAT_PASS, else ~/.netrc)")
    parser.add_argument("--wrapper", required=True, help="wrapper name, e.g. monai-segment-session")
    parser.add_argument("--target", required=True, help="object URI, e.g. /experiments/XNAT_E00001")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--command-file", help="command JSON (one command or an array)")
    source.add_argument("--command-id", type=int, help="id of a command registered in XNAT")
    parser.add_argument("--project", help="project whose wrapper configuration applies")
    parser.add_argument(
        "--input", action="append", default=[], metavar="NAME=VALUE", help="an input value"
    )
    parser.add_argument("--backend", choices=("process", "docker"), default="process")
    parser.add_argument(
        "--container-user",
        default="",
        metavar="UID[:GID]",
        help="docker backend: run containers as this user, as Container Service's Docker "
        "server setting 'container user' does (default blank: the image's own user)",
    )
    parser.add_argument("--workdir", default="runs", help="where mounts and logs are kept")
    parser.set_defaults(handler=run_command)
