"""The train step's loop vs a minimal hand-written MONAI loop: same network, data and steps.

Both sides cache the same synthetic cases with the same transforms, use the same network,
Dice+CE loss and AdamW, and take the same number of optimizer steps, each in a fresh process
(so peak resident memory is each side's own). Goals: our iterations/s ≥ 0.95 × minimal,
our peak memory ≤ 1.2 × minimal.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import time

import numpy as np
import torch
from torch.utils.data import RandomSampler

from benchmarks.harness import BenchResult

log = logging.getLogger(__name__)


def _cases(count: int) -> list:
    from containers.train.cases import TrainingCase
    from xnat_plugin.sandbox.seed.phantom import make_phantom
    from xnat_plugin.sandbox.seed.sites import site_for_session

    cases = []
    for index in range(1, count + 1):
        phantom = make_phantom(index, site_for_session(index, 2))
        sz, sy, sx = phantom.spacing_mm
        cases.append(
            TrainingCase(
                session_label=f"S{index}",
                session_uri=f"/experiments/S{index}",
                subject=f"S{index}",
                site=phantom.site.name,
                image=np.ascontiguousarray(phantom.hu.transpose(2, 1, 0), dtype=np.float32),
                label=np.ascontiguousarray(phantom.labels.transpose(2, 1, 0)),
                affine=np.diag([-sx, -sy, sz, 1.0]),
                labels={"liver": 1, "spleen": 2, "kidney": 3},
                checksum="",
            )
        )
    return cases


def _settings(steps: int, patch: tuple[int, int, int]):
    from containers.train.settings import TrainSettings

    return TrainSettings(
        model_name="bench", epochs=1, steps_per_epoch=steps, patch_size=patch, device="cpu"
    )


def _ours(steps: int, patch: tuple[int, int, int]) -> tuple[int, float, float]:
    from containers.train.data_plan import plan_from_cases
    from containers.train.distributed import Workers
    from containers.train.trainer import SegmentationTrainer

    cases = _cases(4)
    trainer = SegmentationTrainer(
        _settings(steps, patch),
        plan_from_cases(cases),
        cases[0].labels,
        Workers(rank=0, world_size=1, device=torch.device("cpu")),
    )
    started = time.perf_counter()
    result = trainer.train_fold(0, cases, [], None)
    seconds = time.perf_counter() - started
    return result.history[0].optimizer_steps, seconds, _peak_mb()


def _minimal(steps: int, patch: tuple[int, int, int]) -> tuple[int, float, float]:
    from monai.data import CacheDataset, DataLoader
    from monai.losses import DiceCELoss

    from containers.common.networks import build_network
    from containers.train.data_plan import plan_from_cases
    from containers.train.settings import CPU_NETWORK_KWARGS
    from containers.train.transforms import case_item, train_compose

    cases = _cases(4)
    settings = _settings(steps, patch)
    torch.manual_seed(0)
    started = time.perf_counter()
    network = build_network("UNet", 1, 4, patch, **CPU_NETWORK_KWARGS["UNet"])
    dataset = CacheDataset(
        [case_item(c) for c in cases],
        train_compose(plan_from_cases(cases), patch, settings.samples_per_case),
        cache_rate=1.0,
        progress=False,
    )
    sampler = RandomSampler(dataset, replacement=True, num_samples=steps * settings.batch_size)
    loader = DataLoader(dataset, batch_size=settings.batch_size, sampler=sampler)
    loss_function = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.learning_rate)
    network.train()
    done = 0
    for batch in loader:
        optimizer.zero_grad()
        loss = loss_function(network(batch["image"]), batch["label"].long())
        loss.backward()
        optimizer.step()
        done += 1
        if done == steps:
            break
    return done, time.perf_counter() - started, _peak_mb()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_fresh_process(side: str, steps: int, patch: tuple[int, int, int]) -> tuple:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_ours if side == "ours" else _minimal, (steps, patch))


def run(quick: bool) -> list[BenchResult]:
    steps, patch, rounds = (6, (64, 64, 32), 1) if quick else (40, (96, 96, 32), 3)
    timings: dict[str, list[tuple]] = {"ours": [], "minimal": []}
    for _ in range(rounds):
        for side in ("minimal", "ours"):
            timings[side].append(_in_fresh_process(side, steps, patch))
            steps_done, seconds, peak = timings[side][-1]
            log.info("%s: %d steps in %.1f s, peak %.0f MB", side, steps_done, seconds, peak)
    best = {side: min(runs, key=lambda r: r[1] / r[0]) for side, runs in timings.items()}
    rate = {side: best[side][0] / best[side][1] for side in best}
    memory = {side: max(r[2] for r in timings[side]) for side in timings}
    note = f"{steps} steps, patch {patch}, best of {rounds} round(s), 2×patch per step"
    log.info("train loop: ours %.2f it/s, minimal %.2f it/s", rate["ours"], rate["minimal"])
    return [
        BenchResult(
            "train_loop_iterations_per_s",
            rate["ours"],
            rate["minimal"],
            ">=0.95",
            unit="it/s",
            note=note,
        ),  # fmt: skip
        BenchResult(
            "train_loop_peak_memory",
            memory["ours"],
            memory["minimal"],
            "<=1.2",
            unit="MB",
            note=note,
        ),  # fmt: skip
    ]
