"""The classification step's loop vs a minimal hand-written loop: same network, inputs, loss
and optimizer, the same number of optimizer steps, each side in a fresh process.

Inputs are the seeded classification task's phantoms (a liver lesion in every second one),
preprocessed once by the step's own `Preprocessing` before either side's clock starts. Ours is
`ClassificationTrainer.train_fold` (random flips, class-weighted cross-entropy, AdamW with the
warm-up + cosine schedule, a validation pass and a best-state copy per epoch); the minimal
loop is DataLoader → forward → weighted cross-entropy → backward → AdamW. Goal: our
iterations/s ≥ 0.95 × minimal.
"""

from __future__ import annotations

import logging
import multiprocessing
import time

import numpy as np
import torch

from benchmarks.harness import BenchResult

log = logging.getLogger(__name__)

NETWORK = "DenseNet121"
BATCH = 4
SESSIONS = 8  # two optimizer steps per epoch


def _examples(roi: tuple[int, int, int]) -> list:
    from containers.classify.cases import Preprocessing
    from containers.classify.trainer import Example
    from containers.common.bundle_spec import CTWindow
    from xnat_plugin.sandbox.seed.liver_lesion import add_liver_lesion, has_lesion
    from xnat_plugin.sandbox.seed.phantom import make_phantom
    from xnat_plugin.sandbox.seed.sites import site_for_session

    prep = Preprocessing(spacing=(4.5, 4.5, 6.0), roi_size=roi, window=CTWindow())
    examples = []
    for index in range(1, SESSIONS + 1):
        phantom = make_phantom(index, site_for_session(index, 2))
        lesion = has_lesion(index, 2)
        if lesion:
            phantom, _ = add_liver_lesion(phantom)
        sz, sy, sx = phantom.spacing_mm
        image = np.ascontiguousarray(phantom.hu.transpose(2, 1, 0), dtype=np.float32)
        tensor = prep.apply(image, np.diag([-sx, -sy, sz, 1.0]))
        examples.append(Example(f"S{index}", tensor, int(lesion)))
    return examples


def _settings(epochs: int, roi: tuple[int, int, int]):
    from containers.classify.trainer import ClassifySettings

    return ClassifySettings(
        model_name="bench", network=NETWORK, epochs=epochs, roi_size=roi, batch_size=BATCH,
        device="cpu",
    )  # fmt: skip


def _ours(epochs: int, roi: tuple[int, int, int]) -> tuple[int, float]:
    from containers.classify.trainer import ClassificationTrainer
    from containers.train.distributed import Workers

    examples = _examples(roi)
    trainer = ClassificationTrainer(
        _settings(epochs, roi), ["absent", "present"], Workers(0, 1, torch.device("cpu"))
    )
    started = time.perf_counter()
    result = trainer.train_fold(0, examples, [], None)
    seconds = time.perf_counter() - started
    return sum(r.optimizer_steps for r in result.history), seconds


def _minimal(epochs: int, roi: tuple[int, int, int]) -> tuple[int, float]:
    from torch.utils.data import DataLoader

    from containers.classify.networks import build_classifier
    from containers.classify.trainer import class_weights

    examples = _examples(roi)
    settings = _settings(epochs, roi)
    torch.manual_seed(0)
    started = time.perf_counter()
    network = build_classifier(NETWORK, 2)
    dataset = [(e.image, e.target) for e in examples]
    weights = torch.tensor(class_weights([e.target for e in examples], 2))
    loss_function = torch.nn.CrossEntropyLoss(weight=weights)
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.learning_rate)
    network.train()
    done = 0
    for _ in range(epochs):
        for images, targets in DataLoader(dataset, batch_size=BATCH, shuffle=True):  # type: ignore[arg-type]
            optimizer.zero_grad()
            loss = loss_function(network(images), targets)
            loss.backward()
            optimizer.step()
            done += 1
    return done, time.perf_counter() - started


def _in_fresh_process(side: str, epochs: int, roi: tuple[int, int, int]) -> tuple:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_ours if side == "ours" else _minimal, (epochs, roi))


def run(quick: bool) -> list[BenchResult]:
    epochs, roi, rounds = (3, (48, 48, 32), 1) if quick else (10, (96, 96, 48), 3)
    timings: dict[str, list[tuple]] = {"ours": [], "minimal": []}
    for _ in range(rounds):
        for side in ("minimal", "ours"):
            timings[side].append(_in_fresh_process(side, epochs, roi))
            steps, seconds = timings[side][-1]
            log.info("classify %s: %d steps in %.1f s", side, steps, seconds)
    best = {side: min(runs, key=lambda r: r[1] / r[0]) for side, runs in timings.items()}
    rate = {side: best[side][0] / best[side][1] for side in best}
    note = (
        f"{NETWORK}, {SESSIONS} sessions × {epochs} epochs, batch {BATCH}, input {roi}, "
        f"best of {rounds} round(s)"
    )
    return [
        BenchResult(
            "classify_loop_iterations_per_s",
            rate["ours"],
            rate["minimal"],
            ">=0.95",
            unit="it/s",
            note=note,
        )  # fmt: skip
    ]
