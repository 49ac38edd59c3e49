"""What a model saw (containers/common/data_split.py): a session used in training is never
counted as unseen, whichever way it is named."""

from __future__ import annotations

from containers.common.data_split import (
    TRAINING,
    UNKNOWN,
    UNSEEN,
    VALIDATION,
    SeenData,
    record_split,
)

DATA = [
    {"session": "S1_CT1", "uri": "/experiments/XNAT_E01", "subject": "S1"},
    {"session": "S2_CT1", "uri": "/experiments/XNAT_E02", "subject": "S2"},
    {"session": "S3_CT1", "uri": "/data/projects/P/experiments/S3_CT1", "subject": "S3"},
]


def test_a_session_used_in_training_is_never_counted_as_unseen():
    seen = SeenData.from_training({"split": record_split(DATA, [((0, 2), (1,))])})
    # by XNAT ID alone (e.g. the session was relabelled), by label alone, by subject alone
    assert seen.role("XNAT_E01", "renamed", "") == TRAINING
    assert seen.role("XNAT_E99", "S3_CT1", "") == TRAINING
    assert seen.role("XNAT_E98", "S1_CT2", "S1") == TRAINING  # a later session of a trained subject
    assert seen.role("XNAT_E02", "S2_CT1", "S2") == VALIDATION
    assert seen.role("XNAT_E97", "S4_CT1", "S4") == UNSEEN


def test_with_k_folds_every_session_is_training_for_the_ensemble():
    split = record_split(DATA, [((0, 1), (2,)), ((1, 2), (0,)), ((0, 2), (1,))])
    seen = SeenData.from_training({"split": split})
    assert {seen.role("", row["session"], row["subject"]) for row in DATA} == {TRAINING}
    assert split[VALIDATION]["sessions"] == []


def test_a_bundle_without_a_split_calls_nothing_unseen():
    assert SeenData.from_training({}).role("XNAT_E97", "S4_CT1", "S4") == UNKNOWN
    assert SeenData.from_training(None).role("", "", "") == UNKNOWN
