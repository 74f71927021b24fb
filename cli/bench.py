"""`vzoo bench`: throughput, latency and peak memory of rows' models on one protocol."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from vzoo.cli.selection import registry_option, select_rows
from vzoo.core.errors import UserInputError


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def bench(
    ids: Optional[list[str]] = typer.Argument(None, help="Row ids."),
    all_rows: bool = typer.Option(False, "--all", help="Every row (of --task)."),
    task: Optional[str] = typer.Option(None, help="classification | detection | segmentation"),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda"),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", help="Images per pass (default: cuda 128 for classifiers, else 1)."
    ),
    input_hw: Optional[str] = typer.Option(
        None, "--input", help="HxW (default: the paper's: 224x224, 1280x800, 512x2048)."
    ),
    warmup: Optional[int] = typer.Option(
        None, "--warmup", help="Untimed passes (default: cuda 50; cpu 3, detectors 1)."
    ),
    iters: Optional[int] = typer.Option(
        None, "--iters", help="Timed passes (default: cuda 30; cpu 10, detectors 3)."
    ),
    amp: bool = typer.Option(False, "--amp", help="Autocast: float16 on cuda, bfloat16 on cpu."),
    channels_last: bool = typer.Option(False, "--channels-last", help="NHWC input and weights."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the model."),
    threads: Optional[int] = typer.Option(
        None, "--threads", help="torch threads (default: torch's, here the core count)."
    ),
    part: str = typer.Option(
        "model", "--part", help="model (the whole test forward) | backbone (detectors, segmentors)."
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format"),
    no_store: bool = typer.Option(False, "--no-store", help="Do not record in the results store."),
    registry: Optional[list[Path]] = registry_option(),
) -> None:
    """Time rows' models (Swin's throughput() protocol); record images/s, latency, peak memory."""
    from vzoo.core.bounds import check_batch, check_threads, parse_hw
    from vzoo.speed.protocol import PARTS

    rows = select_rows(ids, all_rows, task=task, registry=registry)
    for name, value, least in (("--batch-size", batch_size, 1), ("--iters", iters, 1),
                               ("--warmup", warmup, 0), ("--threads", threads, 1)):  # fmt: skip
        if value is not None and value < least:
            raise UserInputError(f"{name} must be at least {least}, got {value}")
    if compile_model and warmup == 0:
        raise UserInputError("--compile compiles during the warm-up: give --warmup 1 or more")
    if part not in PARTS:
        raise UserInputError(f"unknown --part '{part}'; choose one of {', '.join(PARTS)}")
    hw = parse_hw(input_hw) if input_hw else None
    if threads is not None:
        check_threads("--threads", threads)
    if batch_size is not None:  # at the given input, else the smallest any row is timed at
        check_batch("--batch-size", batch_size, hw or (224, 224))

    from vzoo.core.results import ResultStore
    from vzoo.speed.run import BenchOptions, bench_rows

    options = BenchOptions(
        device=device, part=part, batch_size=batch_size, input_hw=hw, warmup=warmup, iters=iters,
        amp=amp, channels_last=channels_last, compile=compile_model, threads=threads,
    )  # fmt: skip
    run = bench_rows(
        rows, options, named=bool(ids), store=None if no_store else ResultStore(),
        on_row=lambda row: typer.echo(f"bench {row.id} ...", err=True),
    )  # fmt: skip
    results, failures = run.results, run.failures
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([rec for r in results for rec in r.records()], indent=2))
    else:
        _table(results)
    for f in failures:
        typer.echo(f"vzoo: error: {f}", err=True)
    if failures:
        raise typer.Exit(1)


def _table(results: list[object]) -> None:
    from vzoo.core.report import protocol_label
    from vzoo.core.terminal import Column, console, print_table
    from vzoo.speed.run import BenchResult

    labels: dict[str, int] = {}
    columns = [
        Column("row", 0, no_wrap=True), Column("part", 3), Column("input", 2),
        Column("batch", 2, justify="right"), Column("img/s", 0, justify="right"),
        Column("latency ms (p25-p75)", 1), Column("peak MB", 4, justify="right"),
        Column("protocol", 1),
    ]  # fmt: skip
    cells = []
    for r in results:
        assert isinstance(r, BenchResult)
        p = r.protocol
        n = labels.setdefault(protocol_label(p.to_dict()), len(labels) + 1)
        lat = r.timing.latency_ms()
        mem = "—" if r.peak_memory_mb is None else f"{r.peak_memory_mb:.0f}"
        cells.append([
            r.row.id, p.part, p.input, str(p.batch_size), _rate(r.timing.throughput),
            f"{lat['median']:.1f} ({lat['p25']:.1f}-{lat['p75']:.1f})", mem, f"[{n}]",
        ])  # fmt: skip
    print_table(columns, cells, title="vzoo bench")
    out = console()
    for label, n in labels.items():
        out.print(f"[{n}] {label}", markup=False, highlight=False)


def _rate(images_per_s: float) -> str:
    """Three significant digits: a detector on a CPU does 0.25 img/s, a GPU classifier 1686."""
    return f"{images_per_s:.3g}" if images_per_s < 100 else f"{images_per_s:.0f}"
