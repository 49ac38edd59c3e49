"""Data-parallel classification training on CPU (gloo), through the segmentation trainer's
process group (`containers.train.distributed`): two processes take as many optimizer steps per
epoch as one with the same global batch, and end with the same parameters on both."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from containers.classify.trainer import ClassificationTrainer
from containers.train.distributed import Workers, start_workers, stop_workers
from tests.classification.test_classify_trainer import CLASSES, examples, settings
from tests.train.test_distributed import _free_port


def _train(workers: Workers) -> dict[str, float]:
    torch.set_num_threads(1)
    trainer = ClassificationTrainer(settings(epochs=1, batch_size=4), CLASSES, workers)
    result = trainer.train_fold(0, examples([0, 1] * 4), examples([0, 1]), None)
    # Parameters only: each process keeps batch norm's running statistics of its own share
    # (the bundle takes the main process's).
    names = {name for name, _ in trainer.network().named_parameters()}
    weights = torch.cat([v.flatten().float() for k, v in result.best_state.items() if k in names])
    return {"steps": result.history[0].optimizer_steps, "weights_sum": float(weights.sum())}


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


@pytest.mark.slow
def test_two_cpu_processes_take_as_many_steps_as_one_and_agree_on_the_weights(tmp_path: Path):
    single = _train(Workers(rank=0, world_size=1, device=torch.device("cpu")))
    mp.spawn(_process, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert single["steps"] == 2
    assert [r["steps"] for r in ranks] == [2, 2]
    assert ranks[0]["weights_sum"] == pytest.approx(ranks[1]["weights_sum"], rel=1e-6)
