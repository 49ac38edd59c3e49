"""`xnat-monai demo`: the main job on the embedded sandbox."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def run_demo_verb(args: argparse.Namespace) -> int:
    from rich.console import Console

    from xnat_plugin.demo.flow import print_where, run_demo
    from xnat_plugin.demo.settings import DemoSettings
    from xnat_plugin.demo.summary import print_classification_summary, print_summary

    settings = DemoSettings(
        workdir=Path(args.workdir).resolve(),
        sessions=args.sessions if args.sessions else (6 if args.quick else 12),
        sites=args.sites,
        seed=args.seed,
        quick=args.quick,
        workers=args.workers,
        automation=not args.no_automation,
    )
    if not args.verbose:
        # The demo shows its stages and progress bars; each container's own log is in the
        # sandbox (`xnat-monai status`), so the engine's per-step records stay out of the way.
        for name in ("xnat_plugin.runner", "xnat_plugin.sandbox", "xnat_plugin.client"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if args.task == "classification":
        from xnat_plugin.demo.classification import run_classification_demo

        result = run_classification_demo(settings)
        console = Console()
        print_classification_summary(result, console)
        print_where(result, console)
        console.print(f"demo finished in {result.seconds / 60:.1f} min")
        return 0
    result = run_demo(settings)
    console = Console()
    print_summary(result, console)
    print_where(result, console)
    console.print(f"demo finished in {result.seconds / 60:.1f} min")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `demo`."""
    demo = subparsers.add_parser(
        "demo",
        help="run train → infer → evaluate on a synthetic CT project in an embedded sandbox",
        description=(
            "Start a sandbox XNAT, seed a synthetic CT project, install the commands, then "
            "through the Container Service REST API: train, segment every session (bulk), "
            "evaluate each session and the project, and show automation on a new session."
        ),
    )
    demo.add_argument("--workdir", default="demo-work", help="keeps the sandbox's data (xnat/)")
    demo.add_argument("--sessions", type=int, help="sessions to seed (default 12; 6 with --quick)")
    demo.add_argument("--sites", type=int, default=2, help="scanner sites (default 2)")
    demo.add_argument("--seed", type=int, default=0, help="same seed, same data")
    demo.add_argument("--quick", action="store_true", help="a short training: ~2 minutes")
    demo.add_argument("--workers", type=int, default=2, help="containers run at once")
    demo.add_argument("--no-automation", action="store_true", help="skip the automation stage")
    demo.add_argument(
        "--task",
        choices=("segmentation", "classification"),
        default="segmentation",
        help="the study: segmentation (default) or classification (a liver lesion present or "
        "absent, with its explanation)",
    )
    demo.set_defaults(handler=run_demo_verb)
