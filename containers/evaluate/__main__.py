"""`python -m containers.evaluate`: the evaluate step's three modes.

    python -m containers.evaluate --reference R --prediction P --output DIR
        [--labels name=value,…] [--image DICOM_DIR] [--tolerance-mm F]
    python -m containers.evaluate session --session-id ID --project P --output DIR
        [--session-dir DIR] [--ai-pattern RE] [--reference-pattern RE] [--tolerance-mm F]
    python -m containers.evaluate project --project P --output DIR [--models A,B] [--run NAME]
        [--grid-intensity G]

Exit 0 on success; an expected failure (bad input, missing assessor) prints one line on stderr
and exits 2, leaving the output folder empty.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from containers.common.run_as import run_as_output_owner
from containers.common.step import run_step
from xnat_plugin.log import configure_logging

log = logging.getLogger("containers.evaluate")
MODES = ("session", "project")


def _local_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m containers.evaluate",
        description="Compare a predicted segmentation with a reference (local files). "
        "Other modes: `session …`, `project …`.",
    )
    parser.add_argument("--reference", type=Path, required=True, help="NIfTI or DICOM SEG")
    parser.add_argument("--prediction", type=Path, required=True, help="NIfTI or DICOM SEG")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--labels", help="name=value,… (default: names in the files)")
    parser.add_argument("--image", type=Path, help="DICOM folder of the series a SEG segments")
    parser.add_argument("--tolerance-mm", type=float, default=1.0, help="NSD tolerance")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _session_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m containers.evaluate session")
    parser.add_argument("--session-id", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--session-dir", type=Path, help="the mounted session archive")
    parser.add_argument("--ai-pattern", default=".*_monai_.*")
    parser.add_argument("--reference-pattern", default=".*manual.*")
    parser.add_argument("--tolerance-mm", type=float, default=1.0)
    parser.add_argument(
        "--ai-assessor-id", help="evaluate this AI segmentation (instead of --ai-pattern's pick)"
    )
    parser.add_argument(
        "--seg-wait-seconds",
        type=float,
        default=0.0,
        help="with --ai-assessor-id: how long to wait for its SEG resource to be uploaded",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _project_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m containers.evaluate project")
    parser.add_argument("--project", required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--models", help="A or A,B (two models: paired tests)")
    parser.add_argument("--run", help="report folder name (default eval_<timestamp>)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument(
        "--grid-intensity",
        type=float,
        help="g CO2e per kWh of the electricity used (default: the world average, 475)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] == "session":
        args = _session_parser().parse_args(argv[1:])
        configure_logging(args.verbose)
        run_as_output_owner(args.output)
        from containers.evaluate.session_mode import SessionRequest, run_session

        run_session(
            SessionRequest(
                session_id=args.session_id,
                project=args.project,
                output=args.output,
                session_dir=args.session_dir,
                ai_pattern=args.ai_pattern,
                reference_pattern=args.reference_pattern,
                tolerance_mm=args.tolerance_mm,
                ai_assessor_id=args.ai_assessor_id,
                seg_wait_seconds=args.seg_wait_seconds,
            )
        )
        return 0
    if argv and argv[0] == "project":
        args = _project_parser().parse_args(argv[1:])
        configure_logging(args.verbose)
        run_as_output_owner(args.output)
        from containers.evaluate.project_mode import ProjectRequest, run_project

        run_project(
            ProjectRequest(
                project=args.project,
                output=args.output,
                models=[m for m in (args.models or "").split(",") if m],
                run=args.run,
                seed=args.seed,
                grid_intensity=args.grid_intensity,
            )
        )
        return 0
    args = _local_parser().parse_args(argv)
    configure_logging(args.verbose)
    run_as_output_owner(args.output)
    from containers.evaluate.local_mode import LocalRequest, run_local

    run_local(
        LocalRequest(
            reference=args.reference,
            prediction=args.prediction,
            output=args.output,
            labels=args.labels,
            image=args.image,
            tolerance_mm=args.tolerance_mm,
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_step("evaluate", lambda: _dispatch(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
