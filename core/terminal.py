"""The one place that builds terminal tables: they fit the terminal and never break a word.

A table names its columns in order of importance. Columns are dropped from the least important
until the table fits the terminal's width with every word whole (rich wraps a cell only at
spaces once each column is at least as wide as its longest word); `wide=True` keeps every column
and lets the table be as wide as it needs. The width is the terminal's (`COLUMNS` when set, as
rich reads it).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vzoo.core.errors import printable

if TYPE_CHECKING:
    from rich.console import Console


@dataclass(frozen=True)
class Column:
    header: str
    # Lower is more important; columns go from the highest number first. 0: never dropped.
    priority: int = 0
    # Copyable values (row ids, paths): never wrapped, not even at a space.
    no_wrap: bool = False
    justify: str = "left"


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    # soft_wrap off and no highlighting: what is printed is exactly the table's text
    return Console(stderr=stderr, highlight=False)


def stdout_is_terminal() -> bool:
    """Is stdout a terminal (rich's view: `TTY_COMPATIBLE=1` / `FORCE_COLOR` force it)?"""
    return console().is_terminal


def _cell_widths(col: Column, cells: Sequence[str]) -> tuple[int, int]:
    """(narrowest with every word whole, natural) width of a column's text."""
    from rich.cells import cell_len

    texts = [col.header, *cells]
    natural = max(cell_len(line) for t in texts for line in t.splitlines() or [""])
    if col.no_wrap:
        return natural, natural
    return max((cell_len(w) for t in texts for w in t.split()), default=1), natural


def _overhead(n: int) -> int:
    """Characters a table of `n` columns spends on borders and padding."""
    from rich.console import Console

    # never a terminal: with TTY_COMPATIBLE / FORCE_COLOR set, styles' escape codes were counted
    probe = Console(width=1000, file=io.StringIO(), highlight=False, force_terminal=False)
    probe.print(_build(None, [Column("x")] * n, [["x"] * n], [1] * n))
    text = probe.file.getvalue()  # type: ignore[attr-defined]
    return max(len(line) for line in text.splitlines()) - n


def column_widths(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None
) -> list[int] | None:
    """Each column's width so the table fits `width` with no word broken (None: it cannot).

    The widest wrappable columns give up space first, never below their longest word.
    """
    sizes = [_cell_widths(c, [r[i] for r in rows]) for i, c in enumerate(columns)]
    widths = [natural for _, natural in sizes]
    if width is None:
        return widths
    excess = sum(widths) + _overhead(len(columns)) - width
    if excess > sum(natural - least for least, natural in sizes):
        return None
    while excess > 0:
        i = max(
            (i for i, (least, _) in enumerate(sizes) if widths[i] > least),
            key=lambda i: widths[i],
        )  # fmt: skip
        widths[i] -= 1
        excess -= 1
    return widths


def _build(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    widths: Sequence[int],
) -> object:
    from rich import box
    from rich.table import Table

    table = Table(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left"
    )
    for col, w in zip(columns, widths, strict=True):
        table.add_column(
            col.header,
            width=w,  # computed here: rich's own collapse could cut words
            no_wrap=col.no_wrap,
            overflow="fold",
            justify=col.justify,  # type: ignore[arg-type]
        )
    for row in rows:
        table.add_row(*row)
    return table


def fit_columns(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int
) -> tuple[list[int], list[int]]:
    """(kept column indices, their widths): the most important columns that fit `width`."""
    keep = list(range(len(columns)))
    by_priority = sorted(keep, key=lambda i: (columns[i].priority, i), reverse=True)
    for drop in [*by_priority, None]:
        widths = column_widths(
            [columns[i] for i in keep], [[r[i] for i in keep] for r in rows], width
        )
        if widths is not None:
            return keep, widths
        if drop is None or columns[drop].priority == 0 or len(keep) == 1:
            break  # the essential columns stay even when they do not fit
        keep.remove(drop)
    # too narrow even for the essential columns: full width, the terminal wraps the lines
    return keep, column_widths(
        [columns[i] for i in keep], [[r[i] for i in keep] for r in rows], None
    )  # type: ignore[return-value]


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    wide: bool = False,
    stderr: bool = False,
) -> None:
    """Print a table that fits the terminal (or, with `wide`, every column at full width)."""
    con = console(stderr)
    cells = [[printable(str(c)) for c in r] for r in rows]  # no raw escape codes from data
    if wide:
        keep = list(range(len(columns)))
        widths = column_widths(columns, cells, None)
        assert widths is not None
    else:
        keep, widths = fit_columns(columns, cells, con.width)
    con.width = max(con.width, sum(widths) + _overhead(len(keep)))
    con.print(
        _build(title, [columns[i] for i in keep], [[r[i] for i in keep] for r in cells], widths)
    )
    hidden = [c.header for i, c in enumerate(columns) if i not in keep]
    if hidden:
        note = f"({len(hidden)} more column{'s' if len(hidden) > 1 else ''} with --wide: "
        con.print(note + ", ".join(hidden) + ")")


class ImagesProgress:
    """One bar per row on stderr, as flops and download show theirs: images done / total, the
    rate and the time left. Drawn only when stderr is a terminal (logs and pipes stay clean).
    Use as a context manager; `update(row id, done, total)` after each batch."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._bars: dict[str, Any] = {}

    def __enter__(self) -> ImagesProgress:
        con = console(stderr=True)
        if con.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("images"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), console=con,
            )  # fmt: skip
            self._progress.start()
        return self

    def update(self, row_id: str, done: int, total: int) -> None:
        if self._progress is None:
            return
        bar = self._bars.get(row_id)
        if bar is None:
            bar = self._bars[row_id] = self._progress.add_task(f"eval {row_id}", total=total)
        self._progress.update(bar, completed=done, total=total)

    def print(self, line: str) -> None:
        """A line on stderr: above the bars while they are drawn (never into them)."""
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            sys.stderr.write(line + "\n")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
