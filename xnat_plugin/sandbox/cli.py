"""`xnat-monai sandbox serve | add-user` (and `sandbox seed`, added by the seed module)."""

from __future__ import annotations

import argparse
import importlib
import logging
from pathlib import Path

from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)
SEED_CLI = "xnat_plugin.sandbox.seed.cli"


def run_serve(args: argparse.Namespace) -> int:
    from xnat_plugin.sandbox.server import serve

    serve(Path(args.data_dir), port=args.port, user=args.user, password=args.password)
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
    db = open_database(data_dir)
    if not auth.create_user(db, args.user, args.password, is_admin=args.admin):
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
    serve.add_argument("--password", default="admin")
    serve.set_defaults(handler=run_serve)

    add_user = verbs.add_parser("add-user", help="add a user to a sandbox data directory")
    add_user.add_argument("--data-dir", required=True)
    add_user.add_argument("--user", required=True)
    add_user.add_argument("--password", required=True)
    add_user.add_argument("--admin", action="store_true", help="make the user an administrator")
    add_user.set_defaults(handler=run_add_user)

    _register_seed(verbs)
