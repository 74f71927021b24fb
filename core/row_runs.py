"""Measuring many rows, where one row's failure must not lose the others' numbers.

Every command that works row after row (`vzoo download`, `eval`, `flops`, `bench`) follows one
policy, `RowsRun.attempt`: a row's failure becomes one line naming the row and the command goes on
to the next row; at the end `raise_if_failed` ends the command with one error naming the rows that
failed (exit 1, through the CLI's one error formatter). A single row asked for fails as itself (the
CLI prints it as the command's own error); bad input (`UserInputError`) stops the command, since
the rows after it would fail the same way.

`attempt` is a context manager, not a callback: the command's own loop does the work inside it,
so control never climbs from core back up into the room that measures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from vzoo.core.errors import UserInputError, VzooError
from vzoo.core.registry import Row

T = TypeVar("T")


@dataclass
class RowAttempt:
    """One row's try: `reason` is set (what went wrong, one line) when it failed."""

    row: Row
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.reason is not None


def failure_reason(e: BaseException) -> str:
    """What went wrong, in one line: vzoo's own errors say it themselves; anything else is named
    by its type."""
    return str(e) if isinstance(e, VzooError) else f"{type(e).__name__}: {e}"


@dataclass
class RowsRun(Generic[T]):
    results: list[T] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # one line per row that failed
    failed_rows: list[str] = field(default_factory=list)  # their ids

    @contextmanager
    def attempt(self, row: Row, *, alone: bool) -> Iterator[RowAttempt]:
        """Work on one row inside this block. A failure is recorded as one line naming the row
        (`failures`) and swallowed; raised as is when the row is `alone` (the only one asked for)
        or the input is bad."""
        attempt = RowAttempt(row)
        try:
            yield attempt
        except UserInputError:
            raise
        except Exception as e:
            if alone:
                raise
            attempt.reason = failure_reason(e)
            what = attempt.reason
            self.failures.append(what if what.startswith(f"{row.id}:") else f"{row.id}: {what}")
            self.failed_rows.append(row.id)

    def raise_if_failed(self, total: int, what: str) -> None:
        raise_if_failed(self.failed_rows, total, what)


def raise_if_failed(failed_rows: Sequence[str], total: int, what: str) -> None:
    """The end of a many-rows command: "2 of 5 counts failed: a, b" (exit 1) if any row failed."""
    if failed_rows:
        raise VzooError(f"{len(failed_rows)} of {total} {what} failed: {', '.join(failed_rows)}")


def measure_rows(
    rows: Sequence[Row],
    measure: Callable[[Row], T],
    *,
    on_row: Callable[[Row], None] | None = None,
    on_result: Callable[[T], None] | None = None,
) -> RowsRun[T]:
    """`measure` each row in turn under `RowsRun.attempt`; `on_result` sees each result as soon as
    it exists (to record it: an interrupted run keeps what it measured)."""
    run: RowsRun[T] = RowsRun()
    for row in rows:
        if on_row is not None:
            on_row(row)
        with run.attempt(row, alone=len(rows) == 1) as attempt:
            res = measure(row)
        if attempt.failed:
            continue
        run.results.append(res)
        if on_result is not None:
            on_result(res)
    return run
