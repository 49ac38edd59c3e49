"""Subject-level k-fold splits: every session of one subject lands in the same fold.

Two sessions of the same subject in training and validation would leak anatomy between them and
inflate the held-out Dice, so the split is made over subjects, then expanded to sessions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from xnat_plugin.errors import UserError


@dataclass(frozen=True)
class Fold:
    """Indices into the case list: `train` cases fit the model, `validation` cases judge it."""

    index: int
    train: tuple[int, ...]
    validation: tuple[int, ...]


def split_by_subject(subjects: Sequence[str], folds: int, seed: int) -> list[Fold]:
    """Split cases (given by their subject, one entry per case) into `folds` folds.

    Deterministic for a given seed and subject list (order of the cases does not matter).
    With `folds == 1` a single split holds out about a fifth of the subjects (at least one).
    """
    unique = sorted(set(subjects))
    if folds < 1:
        raise UserError(f"--folds must be at least 1, got {folds}")
    if len(unique) < 2:
        raise UserError(
            f"training needs sessions from at least 2 subjects to hold one out, found "
            f"{len(unique)}: add reference segmentations for more subjects"
        )
    if folds > len(unique):
        raise UserError(
            f"--folds {folds} is more than the {len(unique)} subjects with a reference "
            f"segmentation: use --folds {len(unique)} or fewer"
        )
    shuffled = list(unique)
    random.Random(seed).shuffle(shuffled)
    if folds == 1:
        held_out_count = max(1, round(len(shuffled) / 5))
        groups = [shuffled[:held_out_count]]
    else:
        groups = [shuffled[k::folds] for k in range(folds)]
    result = []
    for k, group in enumerate(groups):
        held_out = set(group)
        validation = tuple(i for i, s in enumerate(subjects) if s in held_out)
        train = tuple(i for i, s in enumerate(subjects) if s not in held_out)
        result.append(Fold(index=k, train=train, validation=validation))
    return result
