"""Progress as plain lines, for output that is not a terminal (CI logs, `| tee`, a file).

A progress bar draws only on a terminal; elsewhere a long wait would print nothing for minutes.
`PlainProgress` prints one line per finished container and one per new training epoch (the
container's own log line), epochs at most every `interval` seconds, through `logging` like every
other line of the tool.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

log = logging.getLogger("xnat-monai.progress")

# The train step logs "fold 1/1 epoch 3/30: loss …" (containers/train/__main__.py, EpochLogger).
EPOCH_LINE = re.compile(r"\bepoch \d+/\d+")
EPOCH_INTERVAL_S = 5.0


class PlainProgress:
    def __init__(
        self,
        total: int,
        *,
        interval: float = EPOCH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.finished: set[str] = set()
        self.last_epoch_line = ""
        self.last_epoch_at = -float("inf")

    def container_finished(self, container_id: str, status: str, what: str = "") -> None:
        """One line the first time a container is seen in a final status."""
        if container_id in self.finished:
            return
        self.finished.add(container_id)
        elapsed = self.clock() - self.started
        log.info(
            "container %s%s: %s (%d/%d done, %.0f s)",
            container_id,
            f" ({what})" if what else "",
            status,
            len(self.finished),
            self.total,
            elapsed,
        )

    def due(self) -> bool:
        """Whether an epoch line would be printed now (so a caller reads a log only then)."""
        return self.clock() - self.last_epoch_at >= self.interval

    def log_line(self, line: str) -> None:
        """A running container's newest log line: printed when it is a new training epoch and
        the last epoch line is at least `interval` seconds old."""
        if not EPOCH_LINE.search(line) or line == self.last_epoch_line:
            return
        if not self.due():
            return
        self.last_epoch_line, self.last_epoch_at = line, self.clock()
        log.info("%s", line)
