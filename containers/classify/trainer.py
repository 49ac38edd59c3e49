"""The classification training loop, on the segmentation trainer's parts.

Shared with `containers.train`, not copied: subject-level folds (`folds`), the process group and
its broadcasts (`distributed`), checkpoint stores (`checkpoints`), the time budget (`budget`) and
the warm-up + cosine schedule a budget re-fits (`schedule`). What is classification's own: the
network registry, cross-entropy weighted by the inverse class frequency of the fold's training
sessions, and the validation figures (ROC AUC where both classes are held out, else balanced
accuracy, chooses the best epoch).

One fold: inputs preprocessed once, random flips per step, AdamW, AMP on CUDA only, one
optimizer step per batch, a checkpoint every epoch (a relaunch with the same settings resumes
after the last saved epoch), and with a deadline the schedule ends on the last epoch that fits.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from containers.classify.networks import build_classifier
from containers.common.metrics.classification import UndefinedMetric, roc_auc
from containers.train import budget
from containers.train.checkpoints import CheckpointStore, epoch_state
from containers.train.distributed import Workers
from containers.train.schedule import WarmupCosine
from containers.train.trainer import (  # the segmentation trainer's helpers, shared
    _copy_state,
    _mean_over_processes,
    _planned_epochs,
    _refittable,
)
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

LR_FLOOR = 0.0


@dataclass
class ClassifySettings:
    model_name: str
    network: str = "DenseNet121"
    epochs: int = 20
    folds: int = 1
    roi_size: tuple[int, int, int] = (96, 96, 48)
    spacing: tuple[float, float, float] | None = None  # None: the median of the sessions
    window: tuple[float, float] = (-175.0, 250.0)
    learning_rate: float = 1e-4  # from scratch on a few sessions, 1e-3 made the loss swing
    weight_decay: float = 1e-5
    batch_size: int = 4  # sessions per optimizer step, over all processes
    warmup_fraction: float = 0.05
    seed: int = 0
    device: str = "auto"
    max_minutes: float | None = None

    def fingerprint(self) -> dict[str, Any]:
        """What must match for a checkpoint to be resumed."""
        data = asdict(self)
        for volatile in ("device", "max_minutes"):
            data.pop(volatile)
        data["roi_size"] = list(self.roi_size)
        data["spacing"] = list(self.spacing) if self.spacing else None
        data["window"] = list(self.window)
        return data


@dataclass(frozen=True)
class Example:
    """A session as the network sees it: preprocessed input and class index."""

    session_label: str
    image: torch.Tensor  # (1, X, Y, Z)
    target: int


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    validation_loss: float
    accuracy: float
    balanced_accuracy: float
    auc: float | None  # mean one-vs-rest ROC AUC over the classes both held out; None: none
    score: float  # what chose the best epoch: the AUC where defined, else balanced accuracy
    seconds: float
    optimizer_steps: int
    learning_rate: float
    planned_epochs: int = 0


@dataclass
class FoldResult:
    index: int
    train_sessions: list[str]
    validation_sessions: list[str]
    class_weights: list[float]
    best_score: float
    best_epoch: int
    best_record: dict[str, Any]
    history: list[EpochRecord]
    best_state: dict[str, torch.Tensor] = field(repr=False)
    validation_probabilities: dict[str, list[float]] = field(default_factory=dict)
    stopped_early: bool = False
    resumed_from_epoch: int = 0


def class_weights(targets: Sequence[int], classes: int) -> list[float]:
    """Inverse class frequency, scaled so a balanced set weighs every class 1:
    `n_sessions / (n_classes × n_sessions_of_class)`. A class absent from `targets` gets 0."""
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=classes)[:classes]
    total = float(counts.sum())
    return [total / (classes * float(c)) if c else 0.0 for c in counts]


class ClassificationTrainer:
    """Trains a 3-D classifier on `Example`s; override hooks to change parts."""

    def __init__(
        self, settings: ClassifySettings, classes: Sequence[str], workers: Workers
    ) -> None:
        self.settings = settings
        self.classes = list(classes)
        self.workers = workers
        self.device = workers.device
        if settings.batch_size % workers.world_size or settings.batch_size < 2 * workers.world_size:
            raise UserError(
                f"--batch-size {settings.batch_size} does not give each of {workers.world_size} "
                "process(es) at least 2 sessions per step (batch norm needs 2): use a multiple "
                f"of {2 * workers.world_size}"
            )

    # ---- hooks -------------------------------------------------------------------------------
    def network(self) -> torch.nn.Module:
        return build_classifier(self.settings.network, len(self.classes))

    def loss_function(self, weights: Sequence[float]) -> torch.nn.Module:
        return torch.nn.CrossEntropyLoss(
            weight=torch.tensor(list(weights), dtype=torch.float32, device=self.device)
        )

    def optimizer(self, network: torch.nn.Module) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            network.parameters(),
            lr=self.settings.learning_rate,
            weight_decay=self.settings.weight_decay,
        )

    def lr_scheduler(
        self, optimizer: torch.optim.Optimizer, total_steps: int
    ) -> torch.optim.lr_scheduler.LambdaLR:
        schedule = WarmupCosine(total_steps, self.settings.warmup_fraction, LR_FLOOR)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    def augment(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Random flips along each spatial axis (a class does not depend on handedness)."""
        flips = torch.rand((images.shape[0], 3), generator=generator) < 0.5
        out = images.clone()
        for i in range(images.shape[0]):
            dims = [d + 1 for d in range(3) if flips[i, d]]
            if dims:
                out[i] = torch.flip(images[i], dims)
        return out

    # ---- the loop ----------------------------------------------------------------------------
    def per_process_batch(self) -> int:
        return self.settings.batch_size // self.workers.world_size

    def drops_last(self, train_count: int) -> bool:
        """Whether a pass ends on a batch of one session, which is left out: batch norm (in
        every registered network) cannot train on a single sample."""
        per_process = math.ceil(train_count / self.workers.world_size)
        return per_process % self.per_process_batch() == 1

    def steps_per_epoch(self, train_count: int) -> int:
        """Optimizer steps per epoch (one pass over the training sessions), any process count."""
        per_process = math.ceil(train_count / self.workers.world_size)
        steps = math.ceil(per_process / self.per_process_batch())
        return steps - 1 if self.drops_last(train_count) else steps

    def train_fold(
        self,
        fold_index: int,
        train: Sequence[Example],
        validation: Sequence[Example],
        checkpoints: CheckpointStore | None,
        *,
        on_epoch: Callable[[int, EpochRecord], None] | None = None,
        deadline: float | None = None,
    ) -> FoldResult:
        settings, workers = self.settings, self.workers
        torch.manual_seed(settings.seed + fold_index)
        network = self.network().to(self.device)
        optimizer = self.optimizer(network)
        steps = self.steps_per_epoch(len(train))
        scheduler = self.lr_scheduler(optimizer, steps * settings.epochs)
        schedule = _refittable(scheduler)
        weights = class_weights([e.target for e in train], len(self.classes))
        loss_function = self.loss_function(weights)
        use_amp = self.device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        model: torch.nn.Module = network
        if workers.distributed:
            model = DistributedDataParallel(
                network, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        dataset: Any = [(e.image, e.target) for e in train]  # a map-style dataset

        name = f"fold_{fold_index}/last.pt"
        fingerprint = {**settings.fingerprint(), "classes": self.classes, "fold": fold_index}
        history: list[EpochRecord] = []
        best: dict[str, Any] = {
            "score": -1.0,
            "epoch": 0,
            "record": {},
            "probabilities": {},
            "state": _copy_state(network),
        }
        start_epoch = 0
        state = checkpoints.load(name) if checkpoints is not None else None
        if state is not None and state.get("fingerprint") == fingerprint:
            network.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["torch_rng"])
            history = [EpochRecord(**record) for record in state["history"]]
            best = dict(state["best"])
            start_epoch = int(state["epoch"])
            log.info(
                "fold %d: resuming after epoch %d from its checkpoint", fold_index, start_epoch
            )
        elif state is not None:
            log.warning("fold %d: checkpoint is from other settings; starting afresh", fold_index)

        per_process_batch = self.per_process_batch()
        planned = _planned_epochs(schedule, steps, settings.epochs) if schedule else settings.epochs
        clock = budget.EpochClock(
            settings.epochs,
            planned,
            deadline,
            replan=(lambda fits: schedule.refit(scheduler.last_epoch, fits * steps))
            if schedule is not None
            else (lambda fits: None),
        )
        for epoch in range(start_epoch, settings.epochs):
            if epoch >= planned:
                break
            started = time.perf_counter()
            epoch_seed = settings.seed * 100_003 + fold_index * 1009 + epoch
            sampler: Any
            if workers.distributed:
                sampler = DistributedSampler(
                    dataset, workers.world_size, workers.rank, shuffle=True, seed=epoch_seed
                )
            else:
                sampler = RandomSampler(
                    dataset, generator=torch.Generator().manual_seed(epoch_seed)
                )
            loader: DataLoader[Any] = DataLoader(
                dataset,
                batch_size=per_process_batch,
                sampler=sampler,
                drop_last=self.drops_last(len(train)),
            )
            flips = torch.Generator().manual_seed(epoch_seed + workers.rank)
            model.train()
            losses, optimizer_steps = [], 0
            for images, targets in loader:
                images = self.augment(images, flips).to(self.device, non_blocking=True)
                targets = targets.to(self.device, non_blocking=True).long()
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast(self.device.type, enabled=use_amp):
                    loss = loss_function(model(images), targets)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                optimizer_steps += 1
                losses.append(float(loss.detach()))
            mean_loss = float(np.mean(losses)) if losses else float("nan")
            if workers.distributed:
                mean_loss = _mean_over_processes(mean_loss, self.device)
            figures: dict[str, Any] = {}
            if workers.is_main:
                figures = self.validate(network, validation)
            figures = workers.broadcast(figures)
            record = EpochRecord(
                epoch=epoch + 1,
                loss=mean_loss,
                validation_loss=figures["loss"],
                accuracy=figures["accuracy"],
                balanced_accuracy=figures["balanced_accuracy"],
                auc=figures["auc"],
                score=figures["score"],
                seconds=time.perf_counter() - started,
                optimizer_steps=optimizer_steps,
                learning_rate=float(scheduler.get_last_lr()[0]),
            )
            if record.score > float(best["score"]):
                best = {
                    "score": record.score,
                    "epoch": epoch + 1,
                    "record": vars(record).copy(),
                    "probabilities": figures["probabilities"],
                    "state": _copy_state(network),
                }
            planned = clock.epoch_ended(epoch + 1, fold=fold_index, agree=workers.broadcast)
            record.planned_epochs = planned
            history.append(record)
            if checkpoints is not None and workers.is_main:
                checkpoints.save(
                    name,
                    epoch_state(
                        fingerprint=fingerprint,
                        epoch=epoch + 1,
                        model=_copy_state(network),
                        optimizer=optimizer,
                        scheduler=scheduler,
                        scaler=scaler,
                        history=history,
                        best=best,
                    ),
                )
            workers.barrier()
            if on_epoch is not None:
                on_epoch(fold_index, record)
            if planned <= epoch + 1:
                if planned < settings.epochs:
                    log.info(
                        "fold %d: time budget: %d of %d epochs",
                        fold_index,
                        epoch + 1,
                        settings.epochs,
                    )
                break

        return FoldResult(
            index=fold_index,
            train_sessions=[e.session_label for e in train],
            validation_sessions=[e.session_label for e in validation],
            class_weights=weights,
            best_score=float(best["score"]),
            best_epoch=int(best["epoch"]),
            best_record=dict(best["record"]),
            history=history,
            best_state=best["state"],
            validation_probabilities=dict(best["probabilities"]),
            stopped_early=planned < settings.epochs,
            resumed_from_epoch=start_epoch,
        )

    @torch.no_grad()
    def validate(self, network: torch.nn.Module, items: Sequence[Example]) -> dict[str, Any]:
        """Loss (unweighted), accuracy, balanced accuracy, ROC AUC and each session's
        class probabilities on the held-out sessions."""
        if not items:
            return {
                "loss": float("nan"), "accuracy": 0.0, "balanced_accuracy": 0.0, "auc": None,
                "score": 0.0, "probabilities": {},
            }  # fmt: skip
        network.eval()
        logits = []
        for item in items:
            image = item.image[None].to(self.device)
            with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
                logits.append(network(image).float().cpu()[0])
        stacked = torch.stack(logits)
        targets = torch.tensor([e.target for e in items])
        loss = float(torch.nn.functional.cross_entropy(stacked, targets))
        probabilities = torch.softmax(stacked, dim=1).numpy()
        predicted = probabilities.argmax(axis=1)
        truth = targets.numpy()
        recalls = [float((predicted[truth == k] == k).mean()) for k in np.unique(truth)]
        aucs = []
        for k in range(len(self.classes)):
            try:
                aucs.append(roc_auc((truth == k).astype(int), probabilities[:, k]))
            except UndefinedMetric:
                continue
        auc = float(np.mean(aucs)) if aucs else None
        balanced = float(np.mean(recalls))
        return {
            "loss": loss,
            "accuracy": float((predicted == truth).mean()),
            "balanced_accuracy": balanced,
            "auc": auc,
            "score": auc if auc is not None else balanced,
            "probabilities": {
                e.session_label: [round(float(p), 6) for p in row]
                for e, row in zip(items, probabilities, strict=True)
            },
        }
