"""`xnat-monai models add|list`: MONAI bundles in a project's MONAI_MODELS resource."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--xnat", required=True, metavar="URL", help="XNAT base URL")
    parser.add_argument("--project", required=True, help="the project holding MONAI_MODELS")
    parser.add_argument("--user", help="XNAT user (else XNAT_USER, else ~/.netrc)")
    parser.add_argument("--password", help="password (else XNAT_PASS, else ~/.netrc)")


def run_add(args: argparse.Namespace) -> int:
    from xnat_plugin.client import connect
    from xnat_plugin.models.adding import add_model

    with connect(args.xnat, args.user, args.password) as client:
        added = add_model(
            client,
            args.project,
            Path(args.bundle),
            name=args.name,
            replace=args.replace,
            show_progress=sys.stderr.isatty(),
        )
    card = added.card
    print(
        f"added {added.name} to {args.project}/MONAI_MODELS ({added.files} files): "
        f"{card['kind']} {card['version']}, segments {', '.join(card['labels'])}; "
        f"inputs {', '.join(card['input_channels'])}"
    )
    print(f"code checksum {card['code_sha256']}")
    if card["needs_trust"]:
        print(
            f"runs its own code ({card['first_code']}): it runs only once a site admin approves "
            "this checksum (admin guide: who may run a bundle's code)"
        )
    return 0


def run_list(args: argparse.Namespace) -> int:
    from xnat_plugin.client import connect
    from xnat_plugin.models.listing import list_models

    with connect(args.xnat, args.user, args.password) as client:
        models = list_models(client, args.project)
    table = Table(title=f"{args.project} MONAI_MODELS")
    for column in ("model", "version", "kind", "segments", "inputs", "code sha256", "size"):
        table.add_column(column)
    for model in models:
        trust = " (needs approval)" if model.needs_trust else ""
        table.add_row(
            model.name,
            model.version,
            model.kind,
            ", ".join(model.labels),
            ", ".join(model.input_channels),
            (model.code_sha256[:16] + trust) if model.code_sha256 else "-",
            f"{model.size_bytes / 1e6:.1f} MB",
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `models add` and `models list` to `xnat-monai`."""
    models = subparsers.add_parser("models", help="MONAI bundles in a project's MONAI_MODELS")
    verbs = models.add_subparsers(dest="models_verb", metavar="VERB", required=True)
    add = verbs.add_parser("add", help="check a MONAI bundle (folder or zip) and upload it")
    add.add_argument("bundle", metavar="BUNDLE", help="bundle folder or .zip")
    _connection_arguments(add)
    add.add_argument("--name", help="model name in MONAI_MODELS (default: the folder's name)")
    add.add_argument("--replace", action="store_true", help="replace a model of that name")
    add.set_defaults(handler=run_add)
    listing = verbs.add_parser("list", help="the models of a project")
    _connection_arguments(listing)
    listing.set_defaults(handler=run_list)
