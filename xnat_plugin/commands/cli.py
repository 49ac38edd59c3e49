"""`xnat-monai commands render|validate` and `xnat-monai images build`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `commands` and `images` verbs to `xnat-monai`."""
    commands = subparsers.add_parser(
        "commands", help="render or validate Container Service command JSON"
    )
    actions = commands.add_subparsers(dest="commands_action", metavar="ACTION", required=True)

    render = actions.add_parser("render", help="write command_json/ from the catalogue")
    render.add_argument("--check", action="store_true", help="fail when a file is stale")
    render.add_argument("--dir", type=Path, default=Path("command_json"), help="output folder")
    render.set_defaults(handler=run_render)

    validate = actions.add_parser(
        "validate", help="validate a command JSON file as XNAT 3.7.3 would"
    )
    validate.add_argument("file", type=Path, help="a command object or an array of commands")
    validate.add_argument(
        "--strict", action="store_true", help="treat warnings (ignored by XNAT) as errors"
    )
    validate.add_argument("--image", help="the image the command is registered for (?image=)")
    validate.set_defaults(handler=run_validate)

    images = subparsers.add_parser("images", help="build the step images")
    image_actions = images.add_subparsers(dest="images_action", metavar="ACTION", required=True)
    build = image_actions.add_parser("build", help="build train/infer/evaluate images")
    build.add_argument("--cpu", action="store_true", help="CPU build (no CUDA base)")
    build.add_argument(
        "--step", choices=("train", "infer", "evaluate"), action="append", help="repeatable"
    )
    build.add_argument("--tag", help="image tag (default: the tag in the command JSON)")
    build.add_argument("--base-image", help="override the Dockerfile's BASE_IMAGE")
    build.add_argument("--dir", type=Path, default=Path("command_json"), help="command_json/")
    build.add_argument(
        "--wheelhouse",
        type=Path,
        help="install Python packages only from these wheels (for builders with no index)",
    )
    build.set_defaults(handler=run_build)


def run_render(args: argparse.Namespace) -> int:
    from xnat_plugin.commands.render import render_command_json, stale_command_json

    if args.check:
        problems = stale_command_json(args.dir)
        if problems:
            raise UserError(
                "; ".join(problems) + ": run `xnat-monai commands render` and commit the result",
                exit_code=1,
            )
        log.info("%s is up to date", args.dir)
        return 0
    changed = render_command_json(args.dir)
    log.info("%d file(s) written to %s", len(changed), args.dir)
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from xnat_plugin.commands.model import load_commands
    from xnat_plugin.commands.validation import validate_command

    failed = False
    for command in load_commands(args.file):
        report = validate_command(command, strict=args.strict, image=args.image)
        for error in report.errors:
            log.error("%s", error)
        for warning in report.warnings:
            log.warning("%s", warning)
        verdict = "valid" if report.ok else "INVALID"
        log.info(
            "%s: %s (%d errors, %d warnings)",
            command.name,
            verdict,
            len(report.errors),
            len(report.warnings),
        )
        failed = failed or not report.ok
    return 1 if failed else 0


def run_build(args: argparse.Namespace) -> int:
    from xnat_plugin.commands.images import build_images

    build_images(
        steps=args.step or ["train", "infer", "evaluate"],
        cpu=args.cpu,
        tag=args.tag,
        base_image=args.base_image,
        command_json_dir=args.dir,
        wheelhouse=args.wheelhouse,
    )
    return 0
