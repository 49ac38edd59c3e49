"""The training loop, with hook methods in the MONAI Label style.

A subclass changes one piece (`network`, `loss_function`, `optimizer`, `lr_scheduler`,
`train_pre_transforms`, `val_pre_transforms`) without touching the loop; the network and the
loss themselves come from registries by the names the settings give (`containers.common.networks`,
`containers.common.losses`). `train_fold` runs one
fold: CacheDataset, patch sampling, the chosen loss (Dice+CE by default), AdamW with warm-up + cosine, a sliding-window
validation Dice every epoch, the best model kept, a checkpoint every epoch (resumable). With a
deadline, the cosine is re-fitted after each epoch to end on the last epoch that fits, and the
fold stops there.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from monai.data import CacheDataset, DataLoader
from monai.inferers import sliding_window_inference
from monai.metrics import compute_dice
from monai.networks.utils import one_hot
from monai.transforms import Compose
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler, RandomSampler

from containers.common.losses import build_loss
from containers.common.networks import build_network
from containers.train import budget
from containers.train.cases import TrainingCase
from containers.train.checkpoints import CheckpointStore, epoch_state
from containers.train.data_plan import DataPlan
from containers.train.distributed import Workers
from containers.train.schedule import WarmupCosine
from containers.train.settings import CPU_NETWORK_KWARGS, TrainSettings
from containers.train.transforms import case_item, train_compose, val_compose
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

# The learning rate's last value, as a fraction of the initial one.
LR_FLOOR = 0.0


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    dice: float
    dice_per_label: dict[str, float]
    seconds: float
    optimizer_steps: int
    learning_rate: float
    planned_epochs: int = 0  # the fold's length as planned after this epoch (0: not recorded)


@dataclass
class FoldResult:
    index: int
    train_sessions: list[str]
    validation_sessions: list[str]
    best_dice: float
    best_epoch: int
    best_dice_per_label: dict[str, float]
    history: list[EpochRecord]
    best_state: dict[str, torch.Tensor] = field(repr=False)
    stopped_early: bool = False
    resumed_from_epoch: int = 0


class RepeatedDataset(Dataset):
    """`dataset` repeated `times` (cached items are shared; random transforms run per access)."""

    def __init__(self, dataset: Dataset, size: int, times: int) -> None:
        self.dataset, self.size, self.times = dataset, size, times

    def __len__(self) -> int:
        return self.size * self.times

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index % self.size]


class SegmentationTrainer:
    """Trains a 3-D segmentation network on `TrainingCase`s; override hooks to change parts."""

    def __init__(
        self,
        settings: TrainSettings,
        plan: DataPlan,
        labels: dict[str, int],
        workers: Workers,
        *,
        initial_state: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.settings = settings
        # Fine-tuning: every fold starts from these weights (a parent bundle's) instead of
        # random ones.
        self.initial_state = initial_state
        self.plan = plan
        self.labels = labels
        self.workers = workers
        self.device = workers.device
        if settings.batch_size % workers.world_size:
            raise UserError(
                f"--batch-size {settings.batch_size} does not split over {workers.world_size} "
                "processes: use a multiple of the process count"
            )

    # ---- hooks -------------------------------------------------------------------------------
    def network_kwargs(self) -> dict[str, Any]:
        defaults = CPU_NETWORK_KWARGS.get(self.settings.network, {})
        if self.device.type == "cuda":
            defaults = {}  # on a GPU the library defaults (deeper, wider) are affordable
        return {**defaults, **self.settings.network_kwargs}

    def network(self) -> torch.nn.Module:
        return build_network(
            self.settings.network,
            1,
            len(self.labels) + 1,
            self.settings.patch_size,
            **self.network_kwargs(),
        )

    def loss_function(self) -> torch.nn.Module:
        return build_loss(self.settings.loss, **self.settings.loss_kwargs)

    def optimizer(self, network: torch.nn.Module) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            network.parameters(),
            lr=self.settings.learning_rate,
            weight_decay=self.settings.weight_decay,
        )

    def lr_scheduler(
        self, optimizer: torch.optim.Optimizer, total_steps: int
    ) -> torch.optim.lr_scheduler.LambdaLR:
        """Warm-up then cosine to the floor; its `WarmupCosine` can be re-fitted mid-run."""
        schedule = WarmupCosine(total_steps, self.settings.warmup_fraction, LR_FLOOR)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    def train_pre_transforms(self) -> Compose:
        return train_compose(self.plan, self.settings.patch_size, self.settings.samples_per_case)

    def val_pre_transforms(self) -> Compose:
        return val_compose(self.plan)

    # ---- the loop ----------------------------------------------------------------------------
    def steps_per_epoch(self, train_count: int) -> tuple[int, int]:
        """(repeats of the case list, optimizer steps) per epoch, the same for any process count."""
        batch = self.settings.batch_size
        repeats = max(1, math.ceil(self.settings.steps_per_epoch * batch / train_count))
        samples = train_count * repeats
        per_process = math.ceil(samples / self.workers.world_size)
        return repeats, math.ceil(per_process / (batch // self.workers.world_size))

    def train_fold(
        self,
        fold_index: int,
        train_cases: Sequence[TrainingCase],
        val_cases: Sequence[TrainingCase],
        checkpoints: CheckpointStore | None,
        *,
        on_epoch: Callable[[int, EpochRecord], None] | None = None,
        deadline: float | None = None,
    ) -> FoldResult:
        settings, workers = self.settings, self.workers
        torch.manual_seed(settings.seed + fold_index)
        network = self.network()
        if self.initial_state is not None:
            try:
                network.load_state_dict(self.initial_state, strict=True)
            except RuntimeError as exc:
                raise UserError(
                    f"the parent model's weights do not fit {self.settings.network} "
                    f"({str(exc).strip().splitlines()[-1]}); fine-tune with its own network"
                ) from exc
        network = network.to(self.device)
        optimizer = self.optimizer(network)
        repeats, steps = self.steps_per_epoch(len(train_cases))
        scheduler = self.lr_scheduler(optimizer, steps * settings.epochs)
        schedule = _refittable(scheduler)
        loss_function = self.loss_function()
        use_amp = self.device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        if use_amp:
            torch.backends.cudnn.benchmark = True

        train_transforms = self.train_pre_transforms()
        cached = CacheDataset(
            [case_item(c) for c in train_cases], train_transforms, cache_rate=1.0, progress=False
        )
        dataset = RepeatedDataset(cached, len(train_cases), repeats)
        val_items = [self.val_pre_transforms()(case_item(c)) for c in val_cases]
        model: torch.nn.Module = network
        if workers.distributed:
            model = DistributedDataParallel(
                network, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )

        name = f"fold_{fold_index}/last.pt"
        fingerprint = {**settings.fingerprint(), "labels": self.labels, "fold": fold_index}
        history: list[EpochRecord] = []
        best: dict[str, Any] = {
            "dice": -1.0,
            "epoch": 0,
            "per_label": {},
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

        per_process_batch = settings.batch_size // workers.world_size
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
            _seed_everything(epoch_seed)
            train_transforms.set_random_state(seed=epoch_seed % (2**32))
            sampler: Any
            if workers.distributed:
                sampler = DistributedSampler(
                    dataset, workers.world_size, workers.rank, shuffle=True, seed=epoch_seed
                )
            else:
                sampler = RandomSampler(
                    dataset, generator=torch.Generator().manual_seed(epoch_seed)
                )
            loader = DataLoader(dataset, batch_size=per_process_batch, sampler=sampler)
            model.train()
            losses, optimizer_steps = [], 0
            for batch in loader:
                images = batch["image"].to(self.device, non_blocking=True)
                targets = batch["label"].to(self.device, non_blocking=True).long()
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
            dice, per_label = 0.0, dict[str, float]()
            if workers.is_main:
                dice, per_label = self.validate(network, val_items)
            dice, per_label = workers.broadcast((dice, per_label))
            if dice > float(best["dice"]):
                best = {
                    "dice": dice,
                    "epoch": epoch + 1,
                    "per_label": per_label,
                    "state": _copy_state(network),
                }
            record = EpochRecord(
                epoch=epoch + 1,
                loss=mean_loss,
                dice=dice,
                dice_per_label=per_label,
                seconds=time.perf_counter() - started,
                optimizer_steps=optimizer_steps,
                learning_rate=float(scheduler.get_last_lr()[0]),
            )
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
                floor = (schedule.floor if schedule else 0.0) * settings.learning_rate
                if planned < settings.epochs and record.learning_rate > floor + 1e-12:
                    # An epoch far slower than those before it used up the time planned.
                    log.warning(
                        "fold %d: the time budget ran out after epoch %d, before the learning "
                        "rate reached its floor; keeping the best model",
                        fold_index,
                        epoch + 1,
                    )
                elif planned < settings.epochs:
                    log.info(
                        "fold %d: time budget: %d of %d epochs, schedule finished",
                        fold_index,
                        epoch + 1,
                        settings.epochs,
                    )
                break

        # A resumed fold keeps the plan it was fitted to (a finished one runs no epoch more).
        stopped_early = planned < settings.epochs
        return FoldResult(
            index=fold_index,
            train_sessions=[c.session_label for c in train_cases],
            validation_sessions=[c.session_label for c in val_cases],
            best_dice=float(best["dice"]),
            best_epoch=int(best["epoch"]),
            best_dice_per_label=dict(best["per_label"]),
            history=history,
            best_state=best["state"],
            stopped_early=stopped_early,
            resumed_from_epoch=start_epoch,
        )

    @torch.no_grad()
    def validate(
        self, network: torch.nn.Module, items: Sequence[dict[str, torch.Tensor]]
    ) -> tuple[float, dict[str, float]]:
        """Mean Dice over the validation cases (sliding window over each whole volume)."""
        if not items:
            return 0.0, {}
        network.eval()
        scores = []
        classes = len(self.labels) + 1
        for item in items:
            image = item["image"][None].to(self.device)
            with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
                logits = sliding_window_inference(
                    image,
                    list(self.settings.patch_size),
                    sw_batch_size=2,
                    predictor=network,
                    overlap=self.settings.val_overlap,
                )
            assert isinstance(logits, torch.Tensor)
            prediction = one_hot(torch.argmax(logits, dim=1, keepdim=True), classes)
            reference = one_hot(item["label"][None].to(self.device).long(), classes)
            # The functional form: DiceMetric.aggregate would wait for the other processes.
            scores.append(compute_dice(prediction, reference, include_background=False)[0])
        per_class = np.nanmean(torch.stack(scores).cpu().numpy(), axis=0)
        names = sorted(self.labels, key=self.labels.__getitem__)
        per_label = {name: float(np.nan_to_num(per_class[i])) for i, name in enumerate(names)}
        return float(np.mean(list(per_label.values()))), per_label


def _refittable(scheduler: Any) -> WarmupCosine | None:
    """The schedule a time budget can re-fit (None when a subclass chose another kind)."""
    factors = getattr(scheduler, "lr_lambdas", [])
    return factors[0] if len(factors) == 1 and isinstance(factors[0], WarmupCosine) else None


def _planned_epochs(schedule: WarmupCosine, steps_per_epoch: int, epochs: int) -> int:
    """The epochs the schedule is fitted to (a resumed one may have been fitted to fewer)."""
    return min(epochs, max(1, round(schedule.total_steps / max(1, steps_per_epoch))))


def _copy_state(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in copy.copy(network.state_dict()).items()}


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))


def _mean_over_processes(value: float, device: torch.device) -> float:
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / dist.get_world_size()
