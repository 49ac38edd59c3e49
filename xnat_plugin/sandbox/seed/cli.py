"""`xnat-monai sandbox seed`: fill a project of any XNAT with synthetic CT sessions."""

from __future__ import annotations

import argparse
import logging

from xnat_plugin.sandbox.seed.sites import SITES
from xnat_plugin.sandbox.seed.tasks import DEFAULT_TASK, SEED_TASKS

log = logging.getLogger(__name__)


def run_seed(args: argparse.Namespace) -> int:
    from xnat_plugin.client import connect
    from xnat_plugin.sandbox.seed.seeding import seed_project

    with connect(args.xnat, args.user, args.password) as client:
        seeded = seed_project(
            client,
            args.project,
            args.sessions,
            sites=args.sites,
            seed=args.seed,
            with_reference=not args.no_reference,
            matrix=args.matrix,
            slices=args.slices,
            task=args.task,
        )
    log.info(
        "seeded %d sessions in project %s at %s (%s)",
        len(seeded),
        args.project,
        args.xnat,
        ", ".join(sorted({s.site for s in seeded})),
    )
    return 0


def register(sandbox_subparsers: argparse._SubParsersAction) -> None:
    """Add `seed` to the `sandbox` verbs."""
    seed = sandbox_subparsers.add_parser(
        "seed", help="create a project of synthetic CT sessions with manual SEG references"
    )
    seed.add_argument("--xnat", required=True, help="XNAT address, e.g. http://127.0.0.1:8080")
    seed.add_argument("--project", required=True)
    seed.add_argument("--sessions", type=int, required=True, help="how many sessions to create")
    seed.add_argument(
        "--sites", type=int, default=len(SITES), help=f"scanner sites, 1..{len(SITES)}"
    )
    seed.add_argument("--seed", type=int, default=0, help="same seed, same data")
    seed.add_argument(
        "--task",
        choices=sorted(SEED_TASKS),
        default=DEFAULT_TASK,
        help="segmentation: abdominal organs (default); detection: chest CT with lung nodules; "
        "classification: abdominal CT, half with a liver lesion, class in session field diagnosis",
    )
    seed.add_argument("--user", help="else XNAT_USER, else ~/.netrc")
    seed.add_argument("--password", help="else XNAT_PASS, else ~/.netrc")
    seed.add_argument("--matrix", type=int, help="rows = columns (default 96; e.g. 512)")
    seed.add_argument("--slices", type=int, help="slices per series (default per site, 40-48)")
    seed.add_argument("--no-reference", action="store_true", help="skip the manual SEG assessor")
    seed.set_defaults(handler=run_seed)
