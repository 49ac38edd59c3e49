"""Subject-level folds that hold out every class: `containers.train.folds.split_by_subject`
run on each class's subjects with the same seed, fold k's held-out sessions the union of each
class's fold k. A subject's sessions share a class (`ClassLabels.check_folds` refuses
otherwise), so no subject is ever on both sides of a fold."""

from __future__ import annotations

from collections.abc import Sequence

from containers.train.folds import Fold, split_by_subject


def folds_by_class(
    subjects: Sequence[str], classes: Sequence[str], folds: int, seed: int
) -> list[Fold]:
    """`folds` folds over cases given by their subject and class (one entry each per case)."""
    held_out: list[set[int]] = [set() for _ in range(folds)]
    for name in sorted(set(classes)):
        members = [i for i, c in enumerate(classes) if c == name]
        for fold in split_by_subject([subjects[i] for i in members], folds, seed):
            held_out[fold.index].update(members[j] for j in fold.validation)
    return [
        Fold(
            index=k,
            train=tuple(i for i in range(len(subjects)) if i not in group),
            validation=tuple(sorted(group)),
        )
        for k, group in enumerate(held_out)
    ]
