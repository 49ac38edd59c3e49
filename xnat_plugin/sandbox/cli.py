"""`xnat-monai sandbox serve | add-user` (and `sandbox seed`, added by the seed module).

Passwords never need to be on the command line, where every user of the machine can read them
(`ps`): `--password-file FILE` (`-` for standard input), for `serve` the environment variable
`XNAT_MONAI_SANDBOX_PASSWORD` (taken out of the server's environment once read, so no job
inherits it), for `add-user` a prompt when run in a terminal. `--password` still works, with a
warning.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import logging
import os
import sys
from pathlib import Path

from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)
SEED_CLI = "xnat_plugin.sandbox.seed.cli"
PASSWORD_ENV = "XNAT_MONAI_SANDBOX_PASSWORD"
DEFAULT_ADMIN_PASSWORD = "admin"


def read_password(
    args: argparse.Namespace, *, prompt: str | None, default: str | None, use_env: bool
) -> str:
    """The password from --password-file, XNAT_MONAI_SANDBOX_PASSWORD (when `use_env`),
    --password (warned: visible in `ps`), a prompt (`prompt`, in a terminal), else
    `default`."""
    if args.password_file:
        try:
            if args.password_file == "-":
                text = sys.stdin.readline()
            else:
                text = Path(args.password_file).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError, UnicodeDecodeError) as exc:
            raise UserError(
                f"--password-file {args.password_file}: cannot read a password from it "
                f"({exc.__class__.__name__}); give a file whose first line is the password"
            ) from exc
        password = text.rstrip("\r\n")
        if not password:
            raise UserError(f"--password-file {args.password_file} holds an empty password")
        return password
    if use_env and os.environ.get(PASSWORD_ENV):
        # Read once, then gone: the server's jobs (process backend) inherit its environment.
        return os.environ.pop(PASSWORD_ENV)
    if args.password:
        log.warning(
            "--password is visible to every user of this machine (ps); use --password-file "
            "FILE%s instead",
            f" or {PASSWORD_ENV}" if use_env else "",
        )
        return str(args.password)
    if prompt is not None and sys.stdin.isatty():
        first = getpass.getpass(f"{prompt}: ")
        if not first or getpass.getpass("again: ") != first:
            raise UserError("the two passwords differ (or are empty); nothing was changed")
        return first
    if default is not None:
        return default
    raise UserError(
        "no password: give --password-file FILE (- for standard input), or run in a terminal "
        "to be asked"
    )


def _password_options(parser: argparse.ArgumentParser, what: str, *, use_env: bool) -> None:
    parser.add_argument(
        "--password-file",
        metavar="FILE",
        help=f"{what}: first line of FILE (- reads standard input)"
        + (f", else ${PASSWORD_ENV}" if use_env else ""),
    )
    parser.add_argument(
        "--password", help="the same, but visible to every user in ps: prefer --password-file"
    )


def run_serve(args: argparse.Namespace) -> int:
    from xnat_plugin.sandbox.server import serve

    # Only read on the first start (it creates the administrator): no prompt, admin by default.
    password = read_password(args, prompt=None, default=DEFAULT_ADMIN_PASSWORD, use_env=True)
    serve(Path(args.data_dir), port=args.port, user=args.user, password=password)
    return 0


def run_add_user(args: argparse.Namespace) -> int:
    from xnat_plugin.sandbox import auth
    from xnat_plugin.sandbox.app import open_database

    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise UserError(
            f"{data_dir} is not a sandbox data directory: start "
            "`xnat-monai sandbox serve --data-dir` there first"
        )
    password = read_password(args, prompt=f"password for {args.user}", default=None, use_env=False)
    db = open_database(data_dir)
    if not auth.create_user(db, args.user, password, is_admin=args.admin):
        raise UserError(f"user {args.user} already exists in {data_dir}; choose another login")
    log.info(
        "added %s %s to the sandbox in %s",
        "administrator" if args.admin else "user",
        args.user,
        data_dir,
    )
    return 0


def _register_seed(sandbox_subparsers: argparse._SubParsersAction) -> None:
    try:
        seed_cli = importlib.import_module(SEED_CLI)
    except ModuleNotFoundError as exc:
        if exc.name and SEED_CLI.startswith(exc.name):
            return
        raise
    seed_cli.register(sandbox_subparsers)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `sandbox` and its verbs to `xnat-monai`."""
    sandbox = subparsers.add_parser("sandbox", help="an XNAT-compatible server on this machine")
    verbs = sandbox.add_subparsers(dest="sandbox_verb", metavar="VERB")

    serve = verbs.add_parser("serve", help="serve a sandbox XNAT on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--data-dir", required=True, help="archive + catalogue (kept between runs)")
    serve.add_argument("--user", default="admin", help="administrator created on first start")
    _password_options(
        serve, "the administrator's password on first start (default admin)", use_env=True
    )
    serve.set_defaults(handler=run_serve)

    add_user = verbs.add_parser("add-user", help="add a user to a sandbox data directory")
    add_user.add_argument("--data-dir", required=True)
    add_user.add_argument("--user", required=True)
    _password_options(add_user, "the new user's password (else asked in a terminal)", use_env=False)
    add_user.add_argument("--admin", action="store_true", help="make the user an administrator")
    add_user.set_defaults(handler=run_add_user)

    _register_seed(verbs)
