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


class _FakeXapi:
    """Container Service answers for one container that trains for three polls, then ends:
    `GET /xapi/containers/{id}` and its stderr log, as ContainerRestApi serves them."""

    def __init__(self) -> None:
        self.polls = 0

    def get_json(self, path: str, what: str = "") -> dict:
        assert path == "/xapi/containers/7", path
        self.polls += 1
        status = "Running" if self.polls <= 3 else "Complete"
        return {"id": 7, "status": status, "workflow-id": "41", "history": [], "inputs": []}

    def request(self, method: str, path: str, what: str = "", ok=()):  # noqa: ARG002
        assert path == "/xapi/containers/7/logs/stderr", path
        line = f"2026-01-01 10:00:0{self.polls} INFO containers.train: fold 1/1 epoch {self.polls}/3: loss 0.5"

        class _Answer:
            status_code = 200
            text = f"{line}\n"

        return _Answer()


def test_waiting_off_a_terminal_prints_epochs_and_the_finished_container_and_no_bar(
    caplog, monkeypatch
):
    """watching.wait_for with a console that is not a terminal (a CI log, `| tee`): no progress
    bar is drawn, the training epochs and the finished container come as plain log lines."""
    import io

    from rich.console import Console

    from xnat_plugin.admin import watching

    monkeypatch.setattr(watching, "POLL_INTERVAL_S", 0.0)
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    with caplog.at_level(logging.INFO, logger="xnat-monai.progress"):
        [done] = watching.wait_for(_FakeXapi(), ["7"], timeout=10, console=console)  # type: ignore[arg-type]
    assert done.status == "Complete"
    messages = [r.getMessage() for r in caplog.records if r.name == "xnat-monai.progress"]
    assert messages[0] == "fold 1/1 epoch 1/3: loss 0.5"
    assert messages[-1].startswith("container 7: Complete (1/1 done")
    assert out.getvalue() == ""
