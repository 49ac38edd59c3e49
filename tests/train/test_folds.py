from __future__ import annotations

import pytest

from containers.train.folds import split_by_subject
from xnat_plugin.errors import UserError

SUBJECTS = ["S1", "S1", "S2", "S3", "S3", "S3", "S4", "S5", "S6", "S7", "S7", "S8"]


@pytest.mark.parametrize("folds", [1, 2, 3, 4, 8])
def test_no_subject_appears_in_both_training_and_validation_of_a_fold(folds: int) -> None:
    for fold in split_by_subject(SUBJECTS, folds, seed=3):
        train_subjects = {SUBJECTS[i] for i in fold.train}
        validation_subjects = {SUBJECTS[i] for i in fold.validation}
        assert fold.validation
        assert not train_subjects & validation_subjects
        assert sorted(fold.train + fold.validation) == list(range(len(SUBJECTS)))


def test_every_case_is_validated_exactly_once_across_k_folds() -> None:
    folds = split_by_subject(SUBJECTS, 4, seed=0)
    validated = sorted(i for fold in folds for i in fold.validation)
    assert validated == list(range(len(SUBJECTS)))


def test_split_is_deterministic_by_seed_and_changes_with_it() -> None:
    first = split_by_subject(SUBJECTS, 3, seed=7)
    assert first == split_by_subject(SUBJECTS, 3, seed=7)
    others = [split_by_subject(SUBJECTS, 3, seed=s) for s in range(8, 14)]
    assert any(other != first for other in others)


def test_more_folds_than_subjects_is_refused_with_the_count() -> None:
    with pytest.raises(UserError, match="8 subjects"):
        split_by_subject(SUBJECTS, 9, seed=0)
