"""What a seeded project is for: each task's phantom and how its sessions look.

| task           | phantom                              | reference (manual SEG)     | sessions |
|----------------|--------------------------------------|----------------------------|----------|
| `segmentation` | abdomen: liver, spleen, kidneys      | one segment per organ      | every second one a clinical exam (localizer, thin and thick reconstructions) |
| `detection`    | chest: lungs with 0-5 nodules, 4-30 mm | segment `nodule`, one component per nodule (empty when none) | the axial series only |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.seed.chest_phantom import make_chest_phantom
from xnat_plugin.sandbox.seed.phantom import Phantom, make_phantom


@dataclass(frozen=True)
class SeedTask:
    name: str
    make_phantom: Callable[..., Phantom]  # (seed, site, *, matrix, slices) -> Phantom
    project_description: str
    clinical_exams: bool  # every second session also holds a localizer and reconstructions


SEED_TASKS: dict[str, SeedTask] = {
    task.name: task
    for task in (
        SeedTask("segmentation", make_phantom, "Synthetic abdominal CT (xnat-monai)", True),
        SeedTask(
            "detection",
            make_chest_phantom,
            "Synthetic chest CT with lung nodules (xnat-monai)",
            False,
        ),  # fmt: skip
    )
}
DEFAULT_TASK = "segmentation"


def seed_task(name: str) -> SeedTask:
    if name not in SEED_TASKS:
        raise UserError(f"unknown seeding task {name!r}: choose one of {', '.join(SEED_TASKS)}")
    return SEED_TASKS[name]
