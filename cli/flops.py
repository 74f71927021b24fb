"""`vzoo flops`: params and FLOPs counted the way each paper counts them, next to the published."""

from __future__ import annotations

import os
import time
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from vzoo.cli.options import (
    all_option,
    device_option,
    ids_argument,
    input_option,
    registry_option,
    task_option,
)
from vzoo.cli.selection import end_rows_run, select_rows


class Convention(str, Enum):
    paper = "paper"  # what the authors' script counted, fvcore units (the published figures')
    macs = "macs"  # every costly op, fvcore units (multiply-add = 1)
    flops = "flops"  # true FLOPs: 2 x multiply-adds + scan formulas


def register(app: typer.Typer) -> None:
    app.command("flops")(flops)


def flops(
    ids: Optional[list[str]] = ids_argument(),
    all_rows: bool = all_option(),
    task: Optional[str] = task_option(),
    input_hw: Optional[str] = input_option(),
    convention: Convention = typer.Option(Convention.paper, "--convention"),
    device: str = device_option(),
    allow_uncounted: bool = typer.Option(
        False, "--allow-uncounted", help="Report ops without a handle instead of failing."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write a markdown report here."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not record in the results store."),
    registry: Optional[list[Path]] = registry_option(),
    wide: bool = typer.Option(False, "--wide", help="Every column, however wide the terminal."),
) -> None:
    """Count params and FLOPs of rows' full models; record them next to the published figures."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from vzoo.core.files import check_writable_file, write_text_atomic
    from vzoo.core.inputs import parse_hw
    from vzoo.core.results import ResultStore
    from vzoo.flops.report import render_flops_markdown, render_flops_table

    rows = select_rows(ids, all_rows, task=task, registry=registry)
    shape = (3, *parse_hw(input_hw)) if input_hw else None
    if out is not None:
        check_writable_file(out, "--out")

    from vzoo.flops.run import count_rows

    store = None if no_store else ResultStore()
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), transient=True,
    ) as progress:  # fmt: skip
        bar = progress.add_task("counting", total=len(rows))

        def on_row(row: Any) -> None:
            progress.update(bar, description=f"counting {row.id}", completed=rows.index(row))

        run = count_rows(
            rows, shape, device=device, allow_uncounted=allow_uncounted, store=store,
            on_row=on_row,
        )  # fmt: skip
    results, failures = run.results, run.failures
    render_flops_table(results, convention.value, wide)
    if out is not None:
        elapsed = time.perf_counter() - started
        timing = (
            f"{len(rows)} rows counted in {elapsed:.0f} s wall on {os.cpu_count()} CPU cores "
            f"(device {device}; machine shared with other jobs while measured)"
        )
        write_text_atomic(out, render_flops_markdown(results, convention.value, failures, timing))
    end_rows_run(failures, run.failed_rows, len(rows), "counts")
