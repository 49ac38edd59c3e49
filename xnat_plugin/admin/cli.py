"""The admin verbs of `xnat-monai`: install, automate, launch, status (REST only, any XNAT)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rich.console import Console

from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_COMMANDS_DIR = Path("command_json")


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--xnat", required=True, metavar="URL", help="XNAT base URL")
    parser.add_argument("--user", help="XNAT user (else XNAT_USER, else ~/.netrc)")
    parser.add_argument("--password", help="password (else XNAT_PASS, else ~/.netrc)")


def _connect(args: argparse.Namespace):  # noqa: ANN202 (Xapi, imported lazily)
    from xnat_plugin.admin.xapi import Xapi

    xapi = Xapi(args.xnat, args.user, args.password)
    xapi.check_login()
    return xapi


def _console() -> Console:
    # Piped output (logs, CI) gets room for whole URIs instead of rich's 80-column default.
    return Console(width=None if sys.stdout.isatty() else 160)


def _parse_defaults(pairs: list[str]) -> dict[str, dict[str, str]]:
    defaults: dict[str, dict[str, str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        wrapper, dot, name = key.partition(".")
        if not sep or not dot or not wrapper or not name:
            raise UserError(f"--default {pair!r} is not WRAPPER.INPUT=VALUE")
        defaults.setdefault(wrapper, {})[name] = value
    return defaults


def run_install(args: argparse.Namespace) -> int:
    from xnat_plugin.admin.install import install_commands
    from xnat_plugin.commands.scan_rule import ScanRule

    with _connect(args) as xapi:
        report = install_commands(
            xapi,
            Path(args.commands_dir),
            args.project,
            _parse_defaults(args.default),
            ScanRule.parse(args.scan_rule) if args.scan_rule else None,
        )
    print(report.summary())
    return 0


def run_automate(args: argparse.Namespace) -> int:
    from xnat_plugin.admin.automation import subscribe_on_session_created

    with _connect(args) as xapi:
        info = subscribe_on_session_created(
            xapi, args.project, args.wrapper, args.input, on=args.on
        )
    verb = "created" if info.created else "already exists:"
    print(f"subscription {verb} '{info.name}' (id {info.id})")
    return 0


def run_launch(args: argparse.Namespace) -> int:
    from xnat_plugin.admin.launching import assign_workflows, bulk_launch, launch
    from xnat_plugin.admin.status_table import print_jobs
    from xnat_plugin.admin.watching import wait_for_launches

    if bool(args.target) == bool(args.all_sessions):
        raise UserError("give exactly one of --target URI or --all-sessions")
    console = _console()
    with _connect(args) as xapi:
        if args.all_sessions:
            bulk = bulk_launch(xapi, args.project, args.wrapper, None, args.input)
            print(
                f"bulk launch {bulk.bulk_launch_id}: {len(bulk.launched)} launched, "
                f"{len(bulk.failures)} refused"
            )
            for target, message in bulk.failures:
                print(f"  refused {target}: {message}")
            if not args.wait:
                return 0
            # XNAT answers "To be assigned" for each: find the workflows by the bulk id.
            launched = assign_workflows(xapi, bulk)
        else:
            launched = [launch(xapi, args.project, args.wrapper, args.target, args.input)]
            print(f"launched {args.wrapper} on {args.target}: workflow {launched[0].workflow_id}")
            if not args.wait:
                return 0
        finished = wait_for_launches(xapi, launched, args.timeout, project=args.project)
        print_jobs(xapi, finished, console)
    failed = [job for job in finished if not job.succeeded]
    if failed:
        raise UserError(f"{len(failed)} of {len(finished)} launch(es) did not complete")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from xnat_plugin.admin.status_table import print_jobs, project_jobs

    with _connect(args) as xapi:
        jobs = project_jobs(xapi, args.project)
        print_jobs(xapi, jobs[-args.last :] if args.last else jobs, _console())
        if not args.project:
            print("give --project to see launches that have no container (yet)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `install`, `automate`, `launch` and `status` to `xnat-monai`."""
    install = subparsers.add_parser("install", help="register commands, enable them on projects")
    _connection_arguments(install)
    install.add_argument("--project", action="append", default=[], help="enable here (repeat)")
    install.add_argument("--commands-dir", default=str(DEFAULT_COMMANDS_DIR))
    install.add_argument(
        "--default",
        action="append",
        default=[],
        metavar="WRAPPER.INPUT=VALUE",
        help="project default for an input (repeat)",
    )
    install.add_argument(
        "--scan-rule",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="which scan of a session infer segments and train learns from, for the projects "
        "(repeat): scan-description=REGEX, scan-type=REGEX, min-frames=N, max-frames=N",
    )
    install.set_defaults(handler=run_install)

    automate = subparsers.add_parser(
        "automate", help="launch a wrapper on every new session (or new AI segmentation)"
    )
    _connection_arguments(automate)
    automate.add_argument("--project", required=True)
    automate.add_argument("--wrapper", required=True, help="wrapper name")
    automate.add_argument(
        "--on",
        default="session-created",
        choices=["session-created", "ai-segmentation-created"],
        help="session-created: every new session (a Session-rooted wrapper); "
        "ai-segmentation-created: every new AI segmentation, chaining evaluate after infer "
        "(an Assessor-rooted wrapper: monai-evaluate-ai-segmentation)",
    )
    automate.add_argument("--input", action="append", default=[], metavar="NAME=VALUE")
    automate.set_defaults(handler=run_automate)

    launch = subparsers.add_parser("launch", help="launch a wrapper on a target or a project")
    _connection_arguments(launch)
    launch.add_argument("--project", required=True)
    launch.add_argument("--wrapper", required=True, help="wrapper name")
    launch.add_argument("--target", help="XNAT URI, e.g. /experiments/XNAT_E00001")
    launch.add_argument("--all-sessions", action="store_true", help="bulk launch on every session")
    launch.add_argument("--input", action="append", default=[], metavar="NAME=VALUE")
    launch.add_argument("--wait", action="store_true", help="follow until every job ends")
    launch.add_argument("--timeout", type=float, default=3600.0, help="seconds for --wait")
    launch.set_defaults(handler=run_launch)

    status = subparsers.add_parser(
        "status", help="launches: containers, workflows without one, statuses, log tails"
    )
    _connection_arguments(status)
    status.add_argument("--project")
    status.add_argument("--last", type=int, default=0, help="only the last N launches")
    status.set_defaults(handler=run_status)
