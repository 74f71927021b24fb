"""`vzoo bench`: throughput, latency and peak memory of rows' models on one protocol."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

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
from vzoo.core.errors import UserInputError

if TYPE_CHECKING:
    from vzoo.core.registry import Row
    from vzoo.speed.run import BenchResult


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def bench(
    ids: Optional[list[str]] = ids_argument(),
    all_rows: bool = all_option(),
    task: Optional[str] = task_option(),
    device: str = device_option(),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", help="Images per pass (default: cuda 128 for classifiers, else 1)."
    ),
    input_hw: Optional[str] = input_option(),
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
    sweep: Optional[str] = typer.Option(
        None,
        "--sweep",
        metavar="SIZES",
        help="Time each row at every size: 224,384,512,768,1024 (squares) or 512x640,800x1280; "
        "'default': 224..1024 for a classifier, 480x768..1024x1600 for --part backbone and "
        "detectors. Prints the exponent of time and memory against the pixel count.",
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format"),
    wide: bool = typer.Option(False, "--wide", help="Every column, however wide the terminal."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not record in the results store."),
    registry: Optional[list[Path]] = registry_option(),
) -> None:
    """Time rows' models (Swin's throughput() protocol); record images/s, latency, peak memory."""
    from vzoo.speed.stability import settle_wait_policy

    settle_wait_policy()  # before torch loads: libgomp reads it once
    from vzoo.core.inputs import check_batch, check_threads, parse_hw
    from vzoo.speed.protocol import PARTS, parse_sweep

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
    if sweep is not None and input_hw is not None:
        raise UserInputError("--sweep and --input both set the input size: give one of them")
    sizes = parse_sweep(sweep) if sweep is not None else None
    if batch_size is not None:  # at the largest input asked for, else the smallest any row takes
        check_batch("--batch-size", batch_size, hw or (sizes[-1] if sizes else (224, 224)))

    from vzoo.core.results import ResultStore
    from vzoo.speed.run import BenchOptions, bench_rows, records_csv, sweep_rows

    options = BenchOptions(
        device=device, part=part, batch_size=batch_size, input_hw=hw, warmup=warmup, iters=iters,
        amp=amp, channels_last=channels_last, compile=compile_model, threads=threads,
    )  # fmt: skip
    store = None if no_store else ResultStore()
    announce = lambda row: typer.echo(f"bench {row.id} ...", err=True)  # noqa: E731
    if sweep is not None:
        swept = sweep_rows(rows, options, sizes, named=bool(ids), store=store, on_row=announce)
        results = [r for s in swept.results for r in s.results]
        failures = [f for s in swept.results for f in s.failures] + swept.failures
        failed = [s.row.id for s in swept.results if s.failures] + swept.failed_rows
    else:
        run = bench_rows(rows, options, named=bool(ids), store=store, on_row=announce)
        results, failures, failed = run.results, run.failures, run.failed_rows
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([rec for r in results for rec in r.records()], indent=2))
    elif fmt is OutputFormat.csv:
        typer.echo(records_csv(results), nl=False)
    elif sweep is not None:
        _sweep_tables(rows, results, wide)
    else:
        _table(results, wide)
    end_rows_run(failures, failed, len(rows), "timings")


def _table(results: list[BenchResult], wide: bool) -> None:
    from vzoo.core.results import protocol_label
    from vzoo.core.sweep import format_number as fmt
    from vzoo.core.terminal import Column, console, print_table

    labels: dict[str, int] = {}
    columns = [
        Column("row", 0, no_wrap=True), Column("part", 3), Column("input", 2),
        Column("batch", 2, justify="right"), Column("throughput", 0, justify="right"),
        Column("latency median (min–max)", 1), Column("peak memory", 4, justify="right"),
        Column("load 1 min", 5, justify="right"), Column("timing", 0), Column("protocol", 1),
    ]  # fmt: skip
    cells = []
    for r in results:
        p = r.protocol
        n = labels.setdefault(protocol_label(p.to_dict()), len(labels) + 1)
        lat = r.timing.latency_ms()
        mem = "—" if r.peak_memory_mb is None else f"{r.peak_memory_mb:.0f} MiB"
        load = "—" if r.load_avg is None else f"{r.load_avg:.1f} / {r.cores} cores"
        cells.append([
            r.row.id, p.part, p.input, str(p.batch_size), f"{_rate(r.timing.throughput)} img/s",
            f"{fmt(lat['median'], 'ms')} ({fmt(lat['min'])}–{fmt(lat['max'], 'ms')})", mem, load,
            "ok" if r.trustworthy else "UNTRUSTWORTHY", f"[{n}]",
        ])  # fmt: skip
    print_table(columns, cells, title="vzoo bench", wide=wide)
    out = console()
    for label, n in labels.items():
        out.print(f"[{n}] {label}", markup=False, highlight=False)
    _untrustworthy_note(results)


def _untrustworthy_note(results: list[BenchResult]) -> None:
    from vzoo.core.terminal import console
    from vzoo.speed.stability import MAX_SPREAD

    flagged = [r for r in results if r.caveats]
    if not flagged:
        return
    out = console()
    for r in flagged:
        out.print(
            f"UNTRUSTWORTHY {r.row.id} {r.protocol.input}: {'; '.join(r.caveats)}",
            markup=False,
            highlight=False,
        )
    out.print(f"(flagged when the 1-minute load average exceeds the cores, the slowest pass took "
              f"over {MAX_SPREAD}x the fastest, or no warm-up pass ran: rerun on a quiet machine "
              "with warm-up)", markup=False, highlight=False)  # fmt: skip


def _sweep_tables(rows: list[Row], results: list[BenchResult], wide: bool) -> None:
    from vzoo.core.sweep import FIT_HEADERS, POINT_HEADERS, build_sweeps, fit_cells, point_cells
    from vzoo.core.terminal import Column, console, print_table

    records = [rec for r in results for rec in r.records()]
    out = console()
    for sweep in build_sweeps(rows, records, min_sizes=1):
        point_columns = [Column("row", 0, no_wrap=True)] + [
            Column(h, i if i < 3 else i + 1, justify="left" if i in (0, 5) else "right")
            for i, h in enumerate(POINT_HEADERS)
        ]
        cells = [[c.row_id, *point_cells(p, reasons=False)] for c in sweep.curves for p in c.points]
        print_table(point_columns, cells, title=sweep.title, wide=wide)
        fit_columns = [Column(FIT_HEADERS[0], 0, no_wrap=True)] + [
            Column(h, 0 if i < 3 else i, justify="right" if i < 4 else "left")
            for i, h in enumerate(FIT_HEADERS[1:], start=1)
        ]
        print_table(fit_columns, [fit_cells(c) for c in sweep.curves],
                    title="exponent against pixel count (log-log least squares; 1 = linear)",
                    wide=wide)  # fmt: skip
        out.print(f"protocol: {sweep.protocol_line}", markup=False, highlight=False)
    _untrustworthy_note(results)


def _rate(images_per_s: float) -> str:
    """Three significant digits: a detector on a CPU does 0.25 img/s, a GPU classifier 1686."""
    return f"{images_per_s:.3g}" if images_per_s < 100 else f"{images_per_s:.0f}"
