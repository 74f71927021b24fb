"""Measuring many rows, where one row's failure must not lose the others' numbers.

`vzoo flops` and `vzoo bench` (and any command that measures row after row) go through
`measure_rows`: each failure becomes one line naming the row, unless a single row was asked for,
whose failure is raised as is (the CLI then prints it as the command's own error).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from vzoo.core.errors import VzooError
from vzoo.core.registry import Row

T = TypeVar("T")


@dataclass
class RowsRun(Generic[T]):
    results: list[T] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # one line per row that failed


def measure_rows(
    rows: Sequence[Row],
    measure: Callable[[Row], T],
    *,
    on_row: Callable[[Row], None] | None = None,
    on_result: Callable[[T], None] | None = None,
) -> RowsRun[T]:
    """`measure` each row in turn; `on_result` sees each result as soon as it exists (to record
    it: an interrupted run keeps what it measured)."""
    run: RowsRun[T] = RowsRun()
    for row in rows:
        if on_row is not None:
            on_row(row)
        try:
            res = measure(row)
        except Exception as e:
            if len(rows) == 1:
                raise
            what = str(e) if isinstance(e, VzooError) else f"{type(e).__name__}: {e}"
            run.failures.append(what if what.startswith(f"{row.id}:") else f"{row.id}: {what}")
            continue
        run.results.append(res)
        if on_result is not None:
            on_result(res)
    return run
