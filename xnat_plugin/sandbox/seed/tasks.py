"""What a seeded project is for: each task's phantom and how its sessions look.

| task           | phantom                              | reference (manual SEG)     | sessions |
|----------------|--------------------------------------|----------------------------|----------|
| `segmentation` | abdomen: liver, spleen, kidneys      | one segment per organ      | every second one a clinical exam (localizer, thin and thick reconstructions) |
| `detection`    | chest: lungs with 0-5 nodules, 4-30 mm | segment `nodule`, one component per nodule (empty when none) | the axial series only |
| `classification` | abdomen, every second session of each site with one liver lesion of 8-25 mm, low contrast | one segment per organ | as segmentation; the class (`lesion`/`no_lesion`) in session field `diagnosis` |

A task whose sessions differ by their place in the project (`per_session`) gets the phantom, the
session's index and the project's site count, and gives back the session's phantom and the
custom fields its session carries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.seed.chest_phantom import make_chest_phantom
from xnat_plugin.sandbox.seed.liver_lesion import lesion_at_every_second_session
from xnat_plugin.sandbox.seed.phantom import Phantom, make_phantom


@dataclass(frozen=True)
class SeedTask:
    name: str
    make_phantom: Callable[..., Phantom]  # (seed, site, *, matrix, slices) -> Phantom
    project_description: str
    clinical_exams: bool  # every second session also holds a localizer and reconstructions
    # (phantom, index, site count) -> (the session's phantom, its session fields)
    per_session: Callable[[Phantom, int, int], tuple[Phantom, dict[str, str]]] | None = None


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
        SeedTask(
            "classification",
            make_phantom,
            "Synthetic abdominal CT, with or without a liver lesion (xnat-monai)",
            True,
            per_session=lesion_at_every_second_session,
        ),
    )
}
DEFAULT_TASK = "segmentation"


def seed_task(name: str) -> SeedTask:
    if name not in SEED_TASKS:
        raise UserError(f"unknown seeding task {name!r}: choose one of {', '.join(SEED_TASKS)}")
    return SEED_TASKS[name]
