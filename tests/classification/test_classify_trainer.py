"""The classification trainer (`containers/classify/trainer.py`) on tiny in-memory inputs:
class weights follow the class counts of a fold's training sessions, a relaunch resumes after
the saved epoch, a time budget ends the fold early, and folds hold out every class by subject
(`containers/classify/split.py` on `containers.train.folds`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from containers.classify.split import folds_by_class
from containers.classify.trainer import (
    ClassificationTrainer,
    ClassifySettings,
    EpochRecord,
    Example,
    class_weights,
)
from containers.train import budget
from containers.train.checkpoints import LocalCheckpoints
from containers.train.distributed import Workers
from xnat_plugin.errors import UserError

CPU = Workers(rank=0, world_size=1, device=torch.device("cpu"))
CLASSES = ["absent", "present"]


def examples(targets: list[int]) -> list[Example]:
    """A bright cube in the 'present' inputs: learnable, cheap."""
    generator = torch.Generator().manual_seed(1)
    out = []
    for i, target in enumerate(targets):
        image = torch.rand((1, 32, 32, 32), generator=generator) * 0.2
        if target:
            image[:, 10:20, 10:20, 10:20] += 0.6
        out.append(Example(f"S{i:02d}", image, target))
    return out


def settings(**changes: object) -> ClassifySettings:
    base = ClassifySettings(
        model_name="m", network="EfficientNetB0", epochs=3, roi_size=(32, 32, 32),
        batch_size=2, device="cpu",
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_class_weights_are_the_inverse_class_frequency():
    assert class_weights([0, 0, 0, 1], 2) == [pytest.approx(4 / 6), pytest.approx(2.0)]
    assert class_weights([0, 1, 2, 2], 3) == [
        pytest.approx(4 / 3),
        pytest.approx(4 / 3),
        pytest.approx(4 / 6),
    ]
    assert class_weights([0, 0], 2) == [0.5, 0.0]  # an absent class weighs nothing


def test_the_loss_weighs_each_class_by_the_fold_s_own_counts():
    torch.set_num_threads(1)
    trainer = ClassificationTrainer(settings(epochs=1), CLASSES, CPU)
    train = examples([0, 0, 0, 0, 0, 1])
    result = trainer.train_fold(0, train, examples([0, 1]), None)
    assert result.class_weights == pytest.approx([6 / 10, 6 / 2])
    loss = trainer.loss_function(result.class_weights)
    assert isinstance(loss, torch.nn.CrossEntropyLoss)
    assert loss.weight.tolist() == pytest.approx([0.6, 3.0])
    # One pass over the six training sessions in batches of two.
    assert result.history[0].optimizer_steps == 3


def test_a_pass_never_ends_on_a_batch_of_one_and_batch_size_one_is_refused():
    """Batch norm cannot train on one sample: a last batch of one is left out."""
    trainer = ClassificationTrainer(settings(batch_size=2), CLASSES, CPU)
    assert trainer.steps_per_epoch(5) == 2 and trainer.drops_last(5)
    assert trainer.steps_per_epoch(6) == 3 and not trainer.drops_last(6)
    torch.set_num_threads(1)
    result = trainer.train_fold(0, examples([0, 1, 0, 1, 0]), examples([0, 1]), None)
    assert result.history[0].optimizer_steps == 2
    with pytest.raises(UserError, match="at least 2 sessions per step"):
        ClassificationTrainer(settings(batch_size=1), CLASSES, CPU)


def test_a_relaunch_resumes_after_the_saved_epoch(tmp_path: Path):
    torch.set_num_threads(1)
    store = LocalCheckpoints(tmp_path / "ckpt")
    train, validation = examples([0, 1, 0, 1]), examples([0, 1])
    seen: list[int] = []

    class Killed(Exception):
        pass

    def killed_after_first(fold: int, record: EpochRecord) -> None:
        seen.append(record.epoch)
        if record.epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        ClassificationTrainer(settings(), CLASSES, CPU).train_fold(
            0, train, validation, store, on_epoch=killed_after_first
        )
    saved = store.load("fold_0/last.pt")
    assert saved is not None and saved["epoch"] == 1

    result = ClassificationTrainer(settings(), CLASSES, CPU).train_fold(
        0, train, validation, store, on_epoch=lambda f, r: seen.append(r.epoch)
    )
    assert result.resumed_from_epoch == 1
    assert seen == [1, 2, 3]  # epoch 1 is not run again
    assert [r.epoch for r in result.history] == [1, 2, 3]
    assert result.history[0].loss == saved["history"][0]["loss"]

    # Other settings: the checkpoint is not theirs, training starts afresh.
    other = ClassificationTrainer(settings(learning_rate=5e-4, epochs=1), CLASSES, CPU)
    assert other.train_fold(0, train, validation, store).resumed_from_epoch == 0


def test_a_time_budget_that_holds_one_epoch_ends_the_fold_there():
    torch.set_num_threads(1)
    trainer = ClassificationTrainer(settings(epochs=5), CLASSES, CPU)
    result = trainer.train_fold(
        0, examples([0, 1, 0, 1]), examples([0, 1]), None, deadline=budget.now() + 0.01
    )
    assert len(result.history) == 1 and result.stopped_early
    assert result.history[0].planned_epochs == 1


def test_folds_hold_out_every_class_and_never_split_a_subject():
    subjects = ["A", "A", "B", "C", "D", "E", "F", "G", "H", "H"]
    classes = ["x", "x", "x", "x", "x", "y", "y", "y", "y", "y"]
    folds = folds_by_class(subjects, classes, 2, seed=4)
    held_out = [i for fold in folds for i in fold.validation]
    assert sorted(held_out) == list(range(len(subjects)))  # each session held out once
    for fold in folds:
        assert {classes[i] for i in fold.validation} == {"x", "y"}
        assert not {subjects[i] for i in fold.train} & {subjects[i] for i in fold.validation}
    (single,) = folds_by_class(subjects, classes, 1, seed=4)
    assert {classes[i] for i in single.validation} == {"x", "y"}
