"""`python -m containers.classify train`: train a session classifier on an XNAT project;
`python -m containers.classify infer`: classify one session and explain it (`infer.py`);
`python -m containers.classify evaluate-project`: a project's classifications against their
true classes (`project.py`).

    python -m containers.classify train --project P --model-name NAME --output DIR
        (--label-field FIELD | --label-csv RESOURCE/FILE.csv) [--network DenseNet121|ResNet18|
        EfficientNetB0] [--epochs N] [--folds K] [--roi-size X,Y,Z] [--spacing X,Y,Z]
        [--window A,B] [--batch-size B] [--max-minutes M] [--checkpoint-dir DIR]
        [--project-dir DIR] [scan rule options]

Reads the project's sessions and their classes through XNAT_HOST/XNAT_USER/XNAT_PASS
(`containers.common.class_labels`); sessions without a class or a usable scan are listed with
the reason and left out. Trains one model per subject-level fold (every class held out in each
fold), and writes a MONAI bundle to `--output/<model-name>/` (which the command uploads to the
project resource MONAI_MODELS) whose `channel_def` names the classes. Checkpoints go to the
project resource MONAI_CHECKPOINTS (and `--checkpoint-dir`) every epoch, so a relaunch with the
same model name and settings resumes. `torchrun --nproc_per_node N -m containers.classify train`
trains data-parallel.

Exit 0 on success; an expected failure prints one line on stderr and exits 2, leaving the
output folder without a bundle. This module imports neither torch nor MONAI.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from containers.classify.networks import CLASSIFIER_NAMES
from containers.common.model_folder import check_model_name
from containers.common.run_as import run_as_output_owner
from containers.common.step import StepRecord, required_xnat, run_step, staged_output
from containers.train import budget
from containers.train.scan_choice import add_scan_rule_arguments, scan_rule_from
from xnat_plugin.errors import UserError
from xnat_plugin.log import configure_logging

if TYPE_CHECKING:
    from containers.classify.trainer import ClassifySettings, EpochRecord
    from containers.train.distributed import Workers

log = logging.getLogger("containers.classify")

STEP = "classify train"
# DenseNet121, ResNet18 and EfficientNet-B0 all downsample by 32.
MIN_ROI = 32


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m containers.classify",
        description="Classification: a class per session from its CT scan.",
    )
    modes = parser.add_subparsers(dest="mode", required=True)
    p = modes.add_parser("train", help="train a classifier on a project's labelled sessions")
    p.add_argument("--project", required=True, help="XNAT project ID")
    p.add_argument("--model-name", required=True, help="folder name of the bundle")
    p.add_argument("--output", required=True, type=Path, help="the bundle goes to OUTPUT/NAME/")
    p.add_argument("--label-field", help="the session field that holds the class")
    p.add_argument(
        "--label-csv", help="RESOURCE/FILE.csv: a project resource's session_label,class"
    )
    p.add_argument("--network", choices=CLASSIFIER_NAMES, default="DenseNet121")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--folds", type=int, default=1, help="k subject-level folds (1: one split)")
    p.add_argument("--roi-size", default="96,96,48", help="network input voxels, e.g. 96,96,48")
    p.add_argument(
        "--spacing", default="", help="input voxel size in mm, e.g. 3,3,3 (default: the median)"
    )
    p.add_argument("--window", default="-175,250", help="CT window A,B in HU, scaled to 0..1")
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=4, help="sessions per step, all processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--project-dir", type=Path, help="mounted project archive (read through XNAT's catalog)"
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--checkpoint-dir", type=Path, help="also keep checkpoints here")
    p.add_argument(
        "--max-minutes",
        type=float,
        help="time budget: the learning-rate schedule is fitted to the epochs that fit in it",
    )
    add_scan_rule_arguments(p)
    p.add_argument("-v", "--verbose", action="store_true")
    from containers.classify.infer import add_infer_arguments

    add_infer_arguments(
        modes.add_parser("infer", help="classify one session's scan and explain the decision")
    )
    e = modes.add_parser(
        "evaluate-project", help="ROC AUC, operating points, calibration and sites over a project"
    )
    e.add_argument("--project", required=True, help="XNAT project ID")
    e.add_argument("--output", required=True, type=Path, help="the report goes to OUTPUT/RUN/")
    e.add_argument("--label-field", help="the session field that holds the true class")
    e.add_argument(
        "--label-csv", help="RESOURCE/FILE.csv: a project resource's session_label,class"
    )
    e.add_argument("--models", help="A or A,B: the models to report on (default: all)")
    e.add_argument("--positive", help="the positive class (default: the one of two classes "
                   "that does not read as 'nothing found', e.g. lesion against no_lesion)")  # fmt: skip
    e.add_argument("--threshold", type=float, default=0.5, help="call positive at or above")
    e.add_argument("--run", help="the report's folder (default: classify_eval_<UTC time>)")
    e.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    e.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    e.add_argument("-v", "--verbose", action="store_true")
    return parser


def _numbers(text: str, option: str, count: int, example: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise UserError(f"{option} {text!r} must be {count} numbers like {example}")
    return values


def settings_from(args: argparse.Namespace) -> ClassifySettings:
    from containers.classify.trainer import ClassifySettings

    roi = [int(v) for v in _numbers(args.roi_size, "--roi-size", 3, "96,96,48")]
    if min(roi) < MIN_ROI:
        raise UserError(
            f"--roi-size {args.roi_size!r}: each size must be at least {MIN_ROI} voxels (the "
            "networks halve the input five times)"
        )
    spacing = None
    if args.spacing:
        spacing = _numbers(args.spacing, "--spacing", 3, "3,3,3")
        if min(spacing) <= 0:
            raise UserError(f"--spacing {args.spacing!r}: each size must be more than 0 mm")
    window = _numbers(args.window, "--window", 2, "-175,250")
    if window[1] <= window[0]:
        raise UserError(f"--window {args.window!r}: the upper bound must exceed the lower")
    if args.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {args.epochs}")
    if args.batch_size < 2:
        raise UserError(
            f"--batch-size must be at least 2 (batch norm needs 2 sessions), got {args.batch_size}"
        )
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise UserError(
            f"--max-minutes must be more than 0, got {args.max_minutes}: leave it out for no "
            "time budget"
        )
    return ClassifySettings(
        model_name=check_model_name(args.model_name),
        network=args.network,
        epochs=args.epochs,
        folds=args.folds,
        roi_size=(roi[0], roi[1], roi[2]),
        spacing=(spacing[0], spacing[1], spacing[2]) if spacing else None,
        window=(window[0], window[1]),
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        max_minutes=args.max_minutes,
    )


def _evaluate_project(args: argparse.Namespace) -> None:
    from containers.classify.project import run_evaluate_project
    from containers.common.class_labels import label_source

    source = label_source(args.label_field, args.label_csv)  # one line before any work
    run_as_output_owner(args.output)
    run_evaluate_project(
        args.project,
        args.output,
        source,
        models=[m.strip() for m in (args.models or "").split(",") if m.strip()],
        positive=args.positive,
        threshold=args.threshold,
        run=args.run,
        resamples=args.resamples,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    workers: Workers | None = None

    if args.mode == "evaluate-project":
        return run_step("classify evaluate-project", lambda: _evaluate_project(args))

    if args.mode == "infer":
        from containers.classify.infer import STEP as INFER_STEP
        from containers.classify.infer import run as infer

        return run_step(INFER_STEP, lambda: (run_as_output_owner(args.output), infer(args)))

    def body() -> None:
        nonlocal workers
        from containers.common.class_labels import label_source

        label_source(args.label_field, args.label_csv)  # one line before any work
        settings_from(args)
        from containers.train.distributed import start_workers

        run_as_output_owner(args.output)
        workers = start_workers(args.device)
        train(args, workers)

    try:
        return run_step(STEP, body)
    finally:
        if workers is not None:
            from containers.train.distributed import stop_workers

            stop_workers(workers)


def train(args: argparse.Namespace, workers: Workers, client: Any = None) -> Path | None:
    """The train mode; `client` (tests) stands for the XNAT of the environment."""
    from containers.classify.bundle_output import write_classifier_bundle
    from containers.classify.cases import (
        Preprocessing,
        candidates_from_xnat,
        median_spacing,
        read_case,
    )
    from containers.classify.split import folds_by_class
    from containers.classify.trainer import ClassificationTrainer, Example
    from containers.common.bundle_spec import CTWindow
    from containers.common.class_labels import label_source
    from containers.common.data_split import record_split
    from containers.train.__main__ import checkpoint_stores

    record = StepRecord("classify-train")
    settings = settings_from(args)
    source = label_source(args.label_field, args.label_csv)
    deadline = budget.deadline_after(settings.max_minutes)
    with (
        required_xnat(client, needed_by="classification training") as xnat,
        tempfile.TemporaryDirectory(prefix="xnat-monai-classify-") as scratch,
    ):
        labels, candidates = candidates_from_xnat(
            xnat, args.project, source, scan_rule_from(args), Path(scratch), args.project_dir
        )
        for line in labels.unlabelled_lines():
            log.warning("%s", line)
        labels.check_folds(settings.folds)
        classes = labels.classes
        log.info("project %s, %s: %s", args.project, labels.source, labels.summary())
        cases = [read_case(c) for c in candidates]
        spacing = settings.spacing or median_spacing(cases)
        prep = Preprocessing(
            spacing=spacing,
            roi_size=settings.roi_size,
            window=CTWindow(a_min=settings.window[0], a_max=settings.window[1]),
        )
        examples = [
            Example(c.session_label, prep.apply(c.image, c.affine), classes.index(c.label))
            for c in cases
        ]
        folds = folds_by_class(
            [c.subject for c in cases], [c.label for c in cases], settings.folds, settings.seed
        )
        checkpoints = checkpoint_stores(xnat, args)
        trainer = ClassificationTrainer(settings, classes, workers)
        results = []
        for number, fold in enumerate(folds):
            results.append(
                trainer.train_fold(
                    fold.index,
                    [examples[i] for i in fold.train],
                    [examples[i] for i in fold.validation],
                    checkpoints,
                    on_epoch=EpochLogger(settings.epochs, len(folds)),
                    deadline=budget.fold_deadline(deadline, len(folds) - number),
                )
            )
        if not workers.is_main:
            return None
        record.device = str(workers.device)
        record.inputs = {c.session_uri: c.checksum for c in cases}
        provenance = record.provenance()
        data = [
            {
                "session": c.session_label,
                "uri": c.session_uri,
                "subject": c.subject,
                "site": c.site,
                "class": c.label,
                "sha256": c.checksum,
            }
            for c in cases
        ]
        training = {
            "project": args.project,
            "labels": labels.source,
            "sessions_per_class": labels.sessions_per_class(),
            "data": data,
            "split": record_split(data, [(f.train, f.validation) for f in folds]),
            "left_out": [
                {"session": u.session_label, "reason": u.reason} for u in labels.unlabelled
            ],
            "folds": [
                {
                    "fold": r.index,
                    "best_epoch": r.best_epoch,
                    "score": round(r.best_score, 4),
                    "auc": r.best_record.get("auc"),
                    "balanced_accuracy": r.best_record.get("balanced_accuracy"),
                    "class_weights": [round(w, 4) for w in r.class_weights],
                    "validation_sessions": r.validation_sessions,
                }
                for r in results
            ],
            "epochs_run": max(len(r.history) for r in results),
            "settings": settings.fingerprint(),
            "processes": workers.world_size,
            "provenance": provenance.model_dump(),
        }
        with staged_output(args.output, into=settings.model_name) as folder:
            write_classifier_bundle(
                folder, settings.model_name, settings.network, classes, prep, results, training
            )
        final = args.output / settings.model_name
        mean = sum(r.best_score for r in results) / len(results)
        log.info("bundle %s written: classes %s, mean validation score %.3f", final, classes, mean)
        return final


class EpochLogger:
    """One log line per epoch: loss, validation figures, time."""

    def __init__(self, epochs: int, folds: int) -> None:
        self.epochs, self.folds = epochs, folds

    def __call__(self, fold: int, record: EpochRecord) -> None:
        auc = f"{record.auc:.3f}" if record.auc is not None else "n/a (one class held out)"
        log.info(
            "fold %d/%d epoch %d/%d: loss %.4f, validation loss %.4f, AUC %s, balanced "
            "accuracy %.3f, %.1f s",
            fold + 1,
            self.folds,
            record.epoch,
            record.planned_epochs or self.epochs,
            record.loss,
            record.validation_loss,
            auc,
            record.balanced_accuracy,
            record.seconds,
        )


if __name__ == "__main__":
    sys.exit(main())
