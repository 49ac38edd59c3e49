"""`python -m containers.detection`: the detection step's infer and evaluation modes.

    python -m containers.detection infer --input DICOM_DIR --model BUNDLE --output DIR
        [--model-name N] [--override ID=VALUE ...] [--threshold T] [--device D] [--label L]
    python -m containers.detection infer-session --input DICOM_DIR --model BUNDLE --output DIR
        --session-id ID --project P --subject S --session-label L [--scan-id N]
        [--assessor-label L] (and the options of infer)
    python -m containers.detection evaluate --reference R --prediction P --image DICOM_DIR
        --output DIR [--labels A,B] [--hit-rule RULE] [--threshold T] [--name NAME]
    python -m containers.detection evaluate-session --session-id ID --project P --output DIR
        [--session-dir DIR] [--ai-pattern RE] [--reference-pattern RE] [--ai-assessor-id ID]
        [--labels A,B] [--hit-rule RULE] [--threshold T]
    python -m containers.detection evaluate-project --project P --output DIR [--models A,B]
        [--run NAME] [--seed S] [--resamples N]

Exit 0 on success; an expected failure (bad input, missing assessor) prints one line on stderr
and exits 2, leaving the output folder empty.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from containers.common.step import run_step
from containers.detection.session_result import DEFAULT_HIT_RULE, DEFAULT_THRESHOLD
from xnat_plugin.errors import UserError
from xnat_plugin.log import configure_logging

log = logging.getLogger("containers.detection")


def _judging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels", help="A,B: the labels whose components are lesions (all)")
    parser.add_argument(
        "--hit-rule",
        default=DEFAULT_HIT_RULE,
        help="centre-in-box (a finding's centre inside the lesion's box) or iou>=T",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="operating score: findings scoring at least this are reported",
    )
    parser.add_argument("-v", "--verbose", action="store_true")


def _inferring(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", type=Path, required=True, help="the series' DICOM folder")
    parser.add_argument(
        "--model", type=Path, required=True, help="a MONAI detection bundle, or MONAI_MODELS"
    )
    parser.add_argument("--model-name", help="the model inside the --model folder")
    parser.add_argument("--output", type=Path, required=True, help="empty output folder")
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="ID=VALUE",
        help="MONAI config override, e.g. infer_patch_size=[192,192,80]",
    )
    parser.add_argument(
        "--overrides", default="", metavar="'ID=VALUE ...'", help="several, space-separated"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="findings scoring at least this are reported (RTSTRUCT, SR, picture, counts)",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--label", default="nodule", help="what a finding is (nodule, lesion)")
    parser.add_argument("-v", "--verbose", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m containers.detection",
        description="Detection: findings as scored boxes, and against reference lesions.",
    )
    modes = parser.add_subparsers(dest="mode", required=True)
    infer = modes.add_parser("infer", help="one series: a detection bundle's findings")
    _inferring(infer)
    infer_session = modes.add_parser(
        "infer-session", help="one XNAT session's series: findings and their assessor"
    )
    _inferring(infer_session)
    for name in ("session-id", "project", "subject", "session-label"):
        infer_session.add_argument(f"--{name}", required=True)
    infer_session.add_argument("--scan-id", help="the scan's XNAT ID (recorded)")
    infer_session.add_argument("--assessor-label", help="default: <session>_monai_<model>_<time>")
    local = modes.add_parser("evaluate", help="one scan's files: findings vs reference")
    local.add_argument("--reference", type=Path, required=True, help="DICOM SEG or RTSTRUCT")
    local.add_argument(
        "--prediction", type=Path, required=True, help="findings JSON, DICOM SEG or RTSTRUCT"
    )
    local.add_argument("--image", type=Path, required=True, help="the series' DICOM folder")
    local.add_argument("--output", type=Path, required=True)
    local.add_argument("--name", help="the scan's name in the result (default: the series UID)")
    _judging(local)

    session = modes.add_parser("evaluate-session", help="one XNAT session's AI boxes")
    session.add_argument("--session-id", required=True)
    session.add_argument("--project", required=True)
    session.add_argument("--output", type=Path, required=True)
    session.add_argument("--session-dir", type=Path, help="the mounted session archive")
    session.add_argument("--ai-pattern", default=".*_monai_.*")
    session.add_argument("--reference-pattern", default=".*manual.*")
    session.add_argument("--ai-assessor-id", help="evaluate this AI assessor")
    _judging(session)

    project = modes.add_parser("evaluate-project", help="FROC, CPM, AP over a project")
    project.add_argument("--project", required=True)
    project.add_argument("--output", type=Path, required=True)
    project.add_argument("--models", help="A or A,B (default: every model evaluated)")
    project.add_argument(
        "--run", help="folder of this report in OUTPUT (default: detect_eval_<UTC time>)"
    )
    project.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    project.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    project.add_argument("-v", "--verbose", action="store_true")
    return parser


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def _check_threshold(value: float) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        raise UserError(f"--threshold {value} must be a finite number")
    return value


def _dispatch(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    if args.mode in ("infer", "infer-session"):
        from containers.common.run_as import run_as_output_owner
        from containers.detection.infer_mode import (
            DetectionInferRequest,
            run_detection,
            xnat_arguments,
        )
        from containers.infer.model_loading import parse_overrides

        run_as_output_owner(args.output)
        session = args.mode == "infer-session"
        label = args.label.strip()
        if not label or len(label) > 64:
            raise UserError("--label must be a name of 1 to 64 characters, e.g. nodule")
        run_detection(
            DetectionInferRequest(
                input=args.input,
                model=args.model,
                output=args.output,
                model_name=args.model_name,
                overrides=parse_overrides([*args.overrides.split(), *args.override]),
                threshold=_check_threshold(args.threshold),
                device=args.device,
                label=label,
                xnat=xnat_arguments(vars(args)) if session else None,
                scan_id=getattr(args, "scan_id", None),
                assessor_label=getattr(args, "assessor_label", None),
            )
        )
    elif args.mode == "evaluate":
        from containers.detection.local_mode import LocalDetectionRequest, run_local

        run_local(
            LocalDetectionRequest(
                reference=args.reference,
                prediction=args.prediction,
                image=args.image,
                output=args.output,
                name=args.name,
                labels=_names(args.labels),
                hit_rule=args.hit_rule,
                threshold=_check_threshold(args.threshold),
            )
        )
    elif args.mode == "evaluate-session":
        from containers.detection.session_mode import DetectionSessionRequest
        from containers.detection.step_modes import run_session

        run_session(
            DetectionSessionRequest(
                session_id=args.session_id,
                project=args.project,
                session_dir=args.session_dir,
                ai_pattern=args.ai_pattern,
                reference_pattern=args.reference_pattern,
                ai_assessor_id=args.ai_assessor_id,
                hit_rule=args.hit_rule,
                threshold=_check_threshold(args.threshold),
                labels=_names(args.labels),
            ),
            args.output,
        )
    else:
        from containers.detection.step_modes import run_project

        if args.resamples < 1:
            raise UserError(f"--resamples {args.resamples} must be 1 or more")
        run_project(
            args.project,
            args.output,
            models=_names(args.models),
            resamples=args.resamples,
            seed=args.seed,
            run=args.run,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_step("detection", lambda: _dispatch(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
