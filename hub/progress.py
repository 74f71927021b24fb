"""Progress bars with size, speed and ETA on a terminal; silent otherwise (logs, CI, pipes)."""

from __future__ import annotations

import sys
from typing import Any, Protocol


class ProgressReporter(Protocol):
    """What downloads report their progress to (a rich bar, or nothing)."""

    def start(self, label: str, total: int | None, completed: int) -> None:
        """Begin (or restart) a bar for `label`: `total` bytes (None: unknown), `completed` done."""

    def advance(self, n: int) -> None:
        """`n` more bytes done."""

    def close(self) -> None:
        """The transfer ended: remove the bar."""


class NullProgress:
    """Reports nothing (not a terminal, or quiet)."""

    def start(self, label: str, total: int | None, completed: int) -> None:
        """Nothing to show."""
        pass

    def advance(self, n: int) -> None:
        """Nothing to show."""
        pass

    def close(self) -> None:
        """Nothing to show."""
        pass


class RichProgress:
    """One rich bar per file; `start` again (a retry, a resume) resets it to `completed`.

    Callers `close` it before printing a result line, so no line lands inside a live bar.
    """

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._started = False  # the live display starts with the first byte, not before
        self._task: Any = None
        self._label: str | None = None

    def start(self, label: str, total: int | None, completed: int) -> None:
        """Show a bar for `label`, or reset the current one for a new attempt."""
        if not self._started:
            self._progress.start()
            self._started = True
        if self._task is None or label != self._label:
            self._task = self._progress.add_task(label, total=total, completed=completed)
            self._label = label
        else:
            self._progress.reset(self._task, total=total, completed=completed)

    def advance(self, n: int) -> None:
        """Move the bar on by `n` bytes."""
        if self._task is not None:
            self._progress.advance(self._task, n)

    def close(self) -> None:
        """Stop the live display (its bars stay printed); a later `start` begins a new one."""
        if self._started:
            self._progress.stop()
            self._started = False
        for task in list(self._progress.task_ids):
            self._progress.remove_task(task)
        self._task = self._label = None


def default_progress() -> ProgressReporter:
    """A bar when stderr is a terminal, nothing otherwise."""
    return RichProgress() if sys.stderr.isatty() else NullProgress()
