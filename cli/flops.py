"""`vzoo flops`: params and FLOPs counted the way each paper counts them, next to the published."""

from __future__ import annotations

import dataclasses
import os
import time
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from vzoo.cli.selection import registry_option, select_rows
from vzoo.core.errors import UserInputError, VzooError


class Convention(str, Enum):
    paper = "paper"  # what the authors' script counted, fvcore units (the published figures')
    macs = "macs"  # every costly op, fvcore units (multiply-add = 1)
    flops = "flops"  # true FLOPs: 2 x multiply-adds + scan formulas


def register(app: typer.Typer) -> None:
    app.command("flops")(flops)


# Every backbone downsamples 32x (the last stage needs one pixel); 4096 is twice the largest
# input a paper counts at (512x2048) and keeps a trace within a workstation's memory.
MIN_SIDE, MAX_SIDE = 32, 4096


def parse_input(text: str) -> tuple[int, int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserInputError(f"bad --input '{text}': expected HxW, e.g. 1280x800") from None
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise UserInputError(
            f"bad --input '{text}': each side must be {MIN_SIDE}..{MAX_SIDE} pixels "
            f"(smallest {MIN_SIDE}x{MIN_SIDE}, largest {MAX_SIDE}x{MAX_SIDE})"
        )
    return (3, h, w)


def _is_out_of_memory(e: BaseException) -> bool:
    text = str(e).lower()
    return isinstance(e, MemoryError) or (
        isinstance(e, RuntimeError) and ("out of memory" in text or "not enough memory" in text)
    )


def flops(
    ids: Optional[list[str]] = typer.Argument(None, help="Row ids."),
    all_rows: bool = typer.Option(False, "--all", help="Every row (of --task)."),
    task: Optional[str] = typer.Option(None, help="classification | detection | segmentation"),
    input_hw: Optional[str] = typer.Option(
        None, "--input", help="HxW (default: the paper's: 224x224, 1280x800, 512x2048)."
    ),
    convention: Convention = typer.Option(Convention.paper, "--convention"),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda"),
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

    from vzoo.core.atomic import check_writable_file, write_text_atomic
    from vzoo.core.results import ResultStore
    from vzoo.flops.report import render_flops_markdown, render_flops_table

    rows = select_rows(ids, all_rows, task=task, registry=registry)
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UserInputError(f"unknown --device '{device}': use cpu or cuda")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserInputError("--device cuda was given but CUDA is not available here")
    shape = parse_input(input_hw) if input_hw else None
    if out is not None:
        check_writable_file(out, "--out")

    from vzoo.flops.models import default_input, model_key, row_available
    from vzoo.flops.run import RowFlops, count_row, record

    missing = [r.id for r in rows if not row_available(r)]
    if ids and missing:
        raise UserInputError(
            f"no model in this build for: {', '.join(missing)} (family not installed yet)"
        )
    rows = [r for r in rows if row_available(r)]
    store = None if no_store else ResultStore()
    started = time.perf_counter()
    results: list[RowFlops] = []
    failures: list[str] = []
    counted: dict[str, RowFlops] = {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), transient=True,
    ) as progress:  # fmt: skip
        bar = progress.add_task("counting", total=len(rows))
        for row in rows:
            progress.update(bar, description=f"counting {row.id}")
            try:
                key = model_key(row, shape or default_input(row))
                if key in counted:  # same inference model as a row already counted
                    res = dataclasses.replace(counted[key], row=row)
                else:
                    try:
                        res = count_row(row, shape, device=device, allow_uncounted=allow_uncounted)
                    except (MemoryError, RuntimeError) as e:
                        if not _is_out_of_memory(e):
                            raise
                        _, h, w = shape or default_input(row)
                        raise UserInputError(
                            f"{row.id}: counting at {h}x{w} needs more {device} memory than "
                            "is free: use a smaller --input"
                        ) from None
                    counted[key] = res
            except Exception as e:  # one row's failure must not lose the others' counts
                if len(rows) == 1:
                    raise
                what = str(e) if isinstance(e, VzooError) else f"{type(e).__name__}: {e}"
                failures.append(what if what.startswith(f"{row.id}:") else f"{row.id}: {what}")
            else:
                results.append(res)
                # only counts at the paper's input size are comparable with the published figure
                if store is not None and res.input_shape == default_input(row):
                    record(res, store, device)
            progress.advance(bar)
    render_flops_table(results, convention.value, wide)
    if out is not None:
        elapsed = time.perf_counter() - started
        timing = (
            f"{len(rows)} rows counted in {elapsed:.0f} s wall on {os.cpu_count()} CPU cores "
            f"(device {device}; machine shared with other jobs while measured)"
        )
        write_text_atomic(
            out, render_flops_markdown(results, convention.value, failures, missing, timing)
        )
    for f in failures:
        typer.echo(f"vzoo: error: {f}", err=True)
    if failures:
        raise typer.Exit(1)
