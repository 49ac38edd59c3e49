"""`python -m containers.train`: train a segmentation model on an XNAT project.

Reads the project's image/reference pairs (through XNAT_HOST/XNAT_USER/XNAT_PASS: REST and the
catalog, reading files in the mounted archive `--project-dir` where the catalog puts them; without
XNAT, the `--project-dir` folder alone), each session's scan chosen by the scan rule as infer's,
derives spacing and intensity window from the data, trains one
model per subject-level fold, and writes a MONAI bundle with its report to
`--output/<model-name>/` (which the command uploads to project resource MONAI_MODELS).
Checkpoints go to project resource MONAI_CHECKPOINTS (and `--checkpoint-dir`) every epoch, so a
relaunch with the same model name resumes.

Start-up: this module imports neither torch nor MONAI; `main` imports torch (the device and the
process group need it) and `run` imports MONAI and the trainer in the background while the
training pairs are found and read.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from containers.common.background import BackgroundStages
from containers.common.data_split import record_split
from containers.common.losses import DEFAULT_LOSS, describe_losses, loss_names
from containers.common.model_folder import check_model_name
from containers.common.networks import network_names
from containers.common.run_as import run_as_output_owner
from containers.common.step import StepRecord, run_step, staged_output, xnat_from_environment
from containers.train import budget
from containers.train.cases import (
    DEFAULT_REFERENCE_PATTERN,
    SkippedSession,
    load_cases,
    reference_matcher,
)
from containers.train.folds import split_by_subject
from containers.train.scan_choice import add_scan_rule_arguments, scan_rule_from
from containers.train.settings import TrainSettings
from containers.train.sources import PairSearch, find_training_pairs
from xnat_plugin.client.connection import XnatClient
from xnat_plugin.errors import UserError
from xnat_plugin.log import configure_logging

if TYPE_CHECKING:
    from containers.train.checkpoints import CheckpointStore
    from containers.train.distributed import Workers
    from containers.train.trainer import EpochRecord, FoldResult

log = logging.getLogger("containers.train")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m containers.train", description="Train a MONAI model on an XNAT project."
    )
    p.add_argument("--project", required=True, help="XNAT project ID")
    p.add_argument("--model-name", required=True, help="folder name of the bundle")
    p.add_argument("--output", required=True, type=Path, help="the bundle goes to OUTPUT/NAME/")
    p.add_argument("--network", choices=network_names(), default="UNet")
    p.add_argument(
        "--loss", choices=loss_names(), default=DEFAULT_LOSS, help=f"{describe_losses()}"
    )
    p.add_argument("--labels", default="", help="label names to train, e.g. liver,spleen")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--folds", type=int, default=1, help="k subject-level folds (1: one split)")
    p.add_argument("--patch-size", default="96,96,32", help="patch voxels, e.g. 96,96,32")
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--reference-pattern", default=DEFAULT_REFERENCE_PATTERN)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--project-dir",
        type=Path,
        help="mounted project archive (read through XNAT's catalog when XNAT_HOST is set)",
    )
    p.add_argument(
        "--init-from",
        default="",
        help="fine-tune: start from this bundle (a model in the project's MONAI_MODELS, or a "
        "bundle folder), keeping its network, channels and preprocessing",
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--checkpoint-dir", type=Path, help="also keep checkpoints here")
    p.add_argument("--batch-size", type=int, default=1, help="cases per step, all processes")
    p.add_argument("--steps-per-epoch", type=int, default=20)
    p.add_argument(
        "--max-minutes",
        type=float,
        help="time budget: the learning-rate schedule is fitted to the epochs that fit in it "
        "(measured after each epoch) when fewer than --epochs do",
    )
    add_scan_rule_arguments(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def settings_from(args: argparse.Namespace) -> TrainSettings:
    try:
        patch = tuple(int(v) for v in args.patch_size.split(","))
    except ValueError:
        patch = ()
    if len(patch) != 3 or min(patch) < 8:
        raise UserError(f"--patch-size {args.patch_size!r} must be three sizes ≥ 8 like 96,96,32")
    if args.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {args.epochs}")
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise UserError(
            f"--max-minutes must be more than 0, got {args.max_minutes}: leave it out for no "
            "time budget"
        )
    return TrainSettings(
        model_name=check_model_name(args.model_name),
        network=args.network,
        loss=args.loss,
        epochs=args.epochs,
        folds=args.folds,
        patch_size=(patch[0], patch[1], patch[2]),
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch,
        seed=args.seed,
        device=args.device,
        max_minutes=args.max_minutes,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    from containers.train.distributed import start_workers, stop_workers

    workers: Workers | None = None

    def body() -> None:
        nonlocal workers
        run_as_output_owner(args.output)
        workers = start_workers(args.device)
        run(args, workers)

    try:
        return run_step("train", body)
    finally:
        if workers is not None:
            stop_workers(workers)


def run(args: argparse.Namespace, workers: Workers) -> Path | None:
    record = StepRecord("train")
    settings = settings_from(args)
    # The budget counts from here: reading the data is part of the run.
    deadline = budget.deadline_after(settings.max_minutes)
    matcher = reference_matcher(args.reference_pattern)
    requested = [n for n in args.labels.split(",") if n.strip()] or None
    with (
        BackgroundStages([("training", _import_training)]) as background,
        xnat_from_environment() as client,
        tempfile.TemporaryDirectory(prefix="xnat-monai-train-") as scratch,
    ):
        search = find_training_pairs(
            args.project,
            matcher,
            scan_rule_from(args),
            project_dir=args.project_dir,
            client=client,
            scratch=Path(scratch),
        )
        candidates, skipped = search.candidates, search.skipped
        report_skipped(skipped)
        require_pairs(search, args)
        cases, labels = load_cases(candidates, requested)
        background.result("training")
        import torch

        from containers.train.bundle_output import (
            bundle_spec,
            data_list,
            label_components,
            write_bundle,
        )
        from containers.train.data_plan import plan_from_cases
        from containers.train.trainer import SegmentationTrainer

        parent, mapping = None, None
        if args.init_from:
            from containers.train.init_from import (
                map_labels,
                parent_folder,
                read_parent,
                remap_cases,
            )

            parent = read_parent(parent_folder(args.init_from, args.project, client, Path(scratch)))
            mapping = map_labels(labels, parent.labels, parent.name)
            cases, labels = remap_cases(cases, mapping, parent.labels), dict(parent.labels)
            if args.network != parent.network:
                log.info("fine-tuning keeps %s's network %s", parent.name, parent.network)
            settings = dataclasses.replace(
                settings, network=parent.network, network_kwargs=parent.network_kwargs
            )
            log.info("fine-tuning %s: %s", parent.name, mapping.mapped)
        plan = plan_from_cases(cases, settings.seed)
        if parent is not None:
            plan = parent.plan(plan)
        log.info(
            "%d cases, labels %s, spacing %s mm, window %.0f..%.0f",
            len(cases),
            labels,
            plan.spacing,
            plan.window.a_min,
            plan.window.a_max,
        )
        folds = split_by_subject([c.subject for c in cases], settings.folds, settings.seed)
        checkpoints = checkpoint_stores(client, args)
        trainer = SegmentationTrainer(
            settings, plan, labels, workers, initial_state=parent.state if parent else None
        )
        results: list[FoldResult] = []
        for number, fold in enumerate(folds):
            results.append(
                trainer.train_fold(
                    fold.index,
                    [cases[i] for i in fold.train],
                    [cases[i] for i in fold.validation],
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
        data = data_list(cases)
        training = {
            "project": args.project,
            "data": data,
            # What the model saw, for the evaluation's training / validation / unseen marks.
            "split": record_split(data, [(f.train, f.validation) for f in folds]),
            "skipped": [{"session": s.session_label, "reason": s.reason} for s in skipped],
            "folds": [
                {
                    "fold": r.index,
                    "best_dice": round(r.best_dice, 4),
                    "best_epoch": r.best_epoch,
                    "dice_per_label": {k: round(v, 4) for k, v in r.best_dice_per_label.items()},
                    "validation_sessions": r.validation_sessions,
                }
                for r in results
            ],
            "preprocessing": plan.as_dict(),
            "reference_pattern": args.reference_pattern,
            "epochs_run": max(len(r.history) for r in results),
            "parameters": sum(int(v.numel()) for v in results[0].best_state.values()),
            **({"parent": parent.record(mapping)} if parent and mapping else {}),
            "settings": settings.fingerprint(),
            "processes": workers.world_size,
            "mkldnn": bool(torch.backends.mkldnn.enabled),
            "image": provenance.image.model_dump(),
            "provenance": provenance.model_dump(),
        }
        spec = bundle_spec(
            settings,
            trainer.network_kwargs(),
            plan,
            labels,
            training,
            components=label_components(cases, labels),
        )
        with staged_output(args.output, into=settings.model_name) as folder:
            write_bundle(
                folder,
                spec,
                results,
                {"labels": labels, "data": training["data"], "skipped": training["skipped"]},
            )
        final = args.output / settings.model_name
        mean = sum(r.best_dice for r in results) / len(results)
        log.info("bundle %s written: mean validation Dice %.3f", final, mean)
        return final


def _import_training() -> None:
    """MONAI (through the trainer and its transforms), the planner and the bundle writer."""
    import containers.train.bundle_output
    import containers.train.checkpoints
    import containers.train.data_plan
    import containers.train.trainer  # noqa: F401


def report_skipped(skipped: list[SkippedSession]) -> None:
    for s in skipped:
        log.warning("skipping session %s: %s", s.session_label, s.reason)


def require_pairs(search: PairSearch, args: argparse.Namespace) -> None:
    """Refuse a run without pairs, saying what was looked for, where, and what to do."""
    if search.candidates:
        return
    skipped = search.skipped
    reasons = "; ".join(f"{s.session_label}: {s.reason}" for s in skipped[:5])
    if len(skipped) > 5:
        reasons += f"; and {len(skipped) - 5} more"
    where = " and ".join(search.searched)
    if not skipped:
        advice = (
            "the project has no image session there: check --project, or mount the project "
            "archive / set XNAT_HOST so its sessions can be read"
        )
    else:
        advice = (
            "upload each session's reference segmentation as an icr:roiCollectionData assessor "
            "with a SEG resource, or change --reference-pattern to match their labels"
        )
    raise UserError(
        f"project {args.project} has no training pair: looked for an icr:roiCollectionData "
        f"assessor whose label matches {args.reference_pattern!r} with a DICOM SEG in its SEG "
        f"resource, and the scan the scan rule picks ({scan_rule_from(args).describe()}) "
        f"with the DICOM series it segments, in {where}"
        + (f" ({reasons})" if reasons else "")
        + f": {advice}"
    )


def checkpoint_stores(client: XnatClient | None, args: argparse.Namespace) -> CheckpointStore:
    from containers.train.checkpoints import CheckpointStores, LocalCheckpoints, XnatCheckpoints

    stores: list[CheckpointStore] = []
    if args.checkpoint_dir is not None:
        stores.append(LocalCheckpoints(args.checkpoint_dir / args.model_name))
    if client is not None:
        stores.append(XnatCheckpoints(client, args.project, args.model_name))
    return CheckpointStores(stores)


class EpochLogger:
    """One log line per epoch: loss, Dice, time and the estimated time left."""

    def __init__(self, epochs: int, folds: int) -> None:
        self.epochs, self.folds = epochs, folds
        self.seconds: list[float] = []

    def __call__(self, fold: int, record: EpochRecord) -> None:
        self.seconds.append(record.seconds)
        planned = record.planned_epochs or self.epochs
        remaining = (self.folds - fold - 1) * planned + (planned - record.epoch)
        recent = self.seconds[-5:]
        eta = remaining * sum(recent) / len(recent)
        per_label = " ".join(f"{k} {v:.3f}" for k, v in record.dice_per_label.items())
        log.info(
            "fold %d/%d epoch %d/%d: loss %.4f, Dice %.3f (%s), %.1f s, ETA %s",
            fold + 1,
            self.folds,
            record.epoch,
            planned,
            record.loss,
            record.dice,
            per_label,
            record.seconds,
            _duration(eta),
        )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


if __name__ == "__main__":
    sys.exit(main())
