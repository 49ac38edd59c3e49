"""Data-parallel training: one process per device under `torchrun` (or spawned), or just one.

`torchrun --nproc_per_node N -m containers.train …` sets RANK/WORLD_SIZE/LOCAL_RANK; then each
process trains on its share of every global batch (gloo on CPU, nccl on CUDA).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workers:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def broadcast(self, value: Any) -> Any:
        """The main process's `value`, on every process."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def choose_device(choice: str, local_rank: int = 0) -> torch.device:
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise UserError("--device cuda was asked for but no CUDA GPU is visible: use auto")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if choice != "auto":
        raise UserError(f"--device {choice!r}: choose auto, cpu or cuda")
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def start_workers(device_choice: str) -> Workers:
    """This process's place among the training processes (a group is joined when WORLD_SIZE>1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    device = choose_device(device_choice, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        log.info("process %d of %d joined (%s on %s)", rank, world_size, backend, device)
    return Workers(rank=rank, world_size=world_size, device=device)


def stop_workers(workers: Workers) -> None:
    if workers.distributed and dist.is_initialized():
        dist.destroy_process_group()
