"""Data-parallel training on CPU (gloo): same optimizer steps per epoch as one process."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from containers.train.data_plan import plan_from_cases
from containers.train.distributed import Workers, start_workers, stop_workers
from containers.train.settings import TrainSettings
from containers.train.trainer import SegmentationTrainer
from tests.train.project_archive import phantom_case

TINY_UNET = {"channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 0}


def _settings() -> TrainSettings:
    return TrainSettings(
        model_name="ddp",
        network_kwargs=TINY_UNET,
        epochs=1,
        patch_size=(32, 32, 16),
        batch_size=2,
        samples_per_case=1,
        steps_per_epoch=3,
        device="cpu",
    )


def _train(workers: Workers) -> dict[str, float]:
    torch.set_num_threads(1)
    cases = [phantom_case(i) for i in range(1, 5)]
    plan = plan_from_cases(cases)
    trainer = SegmentationTrainer(_settings(), plan, cases[0].labels, workers)
    result = trainer.train_fold(0, cases[:3], cases[3:], None)
    weights = torch.cat([v.flatten().float() for v in result.best_state.values()])
    return {
        "steps": result.history[0].optimizer_steps,
        "weights_sum": float(weights.sum()),
        "dice": result.best_dice,
    }


def _process(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
    )
    workers = start_workers("cpu")
    try:
        summary = _train(workers)
    finally:
        stop_workers(workers)
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(summary))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_cpu_processes_take_as_many_optimizer_steps_as_one_with_the_same_global_batch(
    tmp_path: Path,
) -> None:
    single = _train(Workers(rank=0, world_size=1, device=torch.device("cpu")))
    mp.spawn(_process, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]

    assert single["steps"] == 3
    assert [r["steps"] for r in ranks] == [single["steps"], single["steps"]]
    # Gradients are averaged across processes, so both hold the same model afterwards.
    assert ranks[0]["weights_sum"] == pytest.approx(ranks[1]["weights_sum"], rel=1e-6)
    # Validation runs once and is shared: every process reports the same Dice.
    assert ranks[0]["dice"] == ranks[1]["dice"]


def test_batch_size_that_does_not_split_over_processes_is_refused() -> None:
    from xnat_plugin.errors import UserError

    cases = [phantom_case(i) for i in range(1, 3)]
    settings = _settings()
    settings.batch_size = 3
    with pytest.raises(UserError, match="multiple of the process count"):
        SegmentationTrainer(
            settings,
            plan_from_cases(cases),
            cases[0].labels,
            Workers(rank=0, world_size=2, device=torch.device("cpu")),
        )
