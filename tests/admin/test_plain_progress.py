"""Plain progress lines off a terminal (xnat_plugin/admin/plain_progress.py): one per finished
container, one per new training epoch at most every few seconds."""

from __future__ import annotations

import logging

from xnat_plugin.admin.plain_progress import PlainProgress


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_finished_container_however_often_it_is_polled(caplog):
    clock = _Clock()
    progress = PlainProgress(2, clock=clock)
    with caplog.at_level(logging.INFO, logger="xnat-monai.progress"):
        clock.now += 12
        progress.container_finished("7", "Complete", "infer /experiments/XNAT_E00001")
        progress.container_finished("7", "Complete", "infer /experiments/XNAT_E00001")
        progress.container_finished("8", "Failed", "infer /experiments/XNAT_E00002")
    assert [r.getMessage() for r in caplog.records] == [
        "container 7 (infer /experiments/XNAT_E00001): Complete (1/2 done, 12 s)",
        "container 8 (infer /experiments/XNAT_E00002): Failed (2/2 done, 12 s)",
    ]


def test_epoch_lines_are_printed_once_and_at_most_every_interval(caplog):
    clock = _Clock()
    progress = PlainProgress(1, interval=5.0, clock=clock)
    epoch = "fold 1/1 epoch {}/30: loss 0.5, Dice 0.800, 2.0 s, ETA 1m00s"
    with caplog.at_level(logging.INFO, logger="xnat-monai.progress"):
        progress.log_line(epoch.format(1))
        progress.log_line(epoch.format(1))  # the same line polled again
        clock.now += 2
        progress.log_line(epoch.format(2))  # too soon: skipped
        clock.now += 4
        progress.log_line(epoch.format(3))
        progress.log_line("reading 12 sessions")  # not an epoch line
    assert [r.getMessage() for r in caplog.records] == [epoch.format(1), epoch.format(3)]
