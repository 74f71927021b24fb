"""`vzoo compare`: published vs latest measured numbers, as markdown/csv/json/html."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from vzoo.cli.options import all_option, ids_argument, registry_option, task_option
from vzoo.cli.selection import select_rows


class ReportFormat(str, Enum):
    markdown = "markdown"
    csv = "csv"
    json = "json"
    html = "html"


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


def compare(
    ids: Optional[list[str]] = ids_argument("Row ids (default: all rows)."),
    all_rows: bool = all_option(
        "All rows (the default without ids); on a terminal, also every metric not measured."
    ),
    task: Optional[str] = task_option("Only rows of this task."),
    report: Optional[ReportFormat] = typer.Option(
        None,
        "--report",
        help="Report format [default: markdown; on a terminal, a table of what was measured].",
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the report here (atomically)."),
    plot: Optional[Path] = typer.Option(
        None,
        "--plot",
        help="Write each figure (accuracy vs FLOPs / params / throughput) to this folder as PNG "
        "and SVG; alone, no report is printed.",
    ),
    tolerance: Optional[list[str]] = typer.Option(
        None,
        "--tolerance",
        metavar="METRIC=VALUE",
        help="METRIC=VALUE, e.g. box_ap=0.5 or flops_g=0.05 (relative).",
    ),
    details: bool = typer.Option(
        False, "--details", help="Also COCO's AP50/AP75/APs/m/l and AR (no paper prints them)."
    ),
    registry: Optional[list[Path]] = registry_option(),
    wide: bool = typer.Option(False, "--wide", help="Terminal view: every column at full width."),
) -> None:
    """Compare published and measured numbers; one verdict per (row, metric).

    On a terminal (no --report, no --out): tables of what was measured and, per task, how many
    rows are not measured and the command that measures them; files and pipes get markdown."""
    from vzoo.core.errors import UserInputError
    from vzoo.core.files import check_writable_file, write_text_atomic
    from vzoo.core.report import (
        charts_for,
        compare_stored,
        parse_tolerances,
        print_terminal,
        render,
        to_frame,
    )
    from vzoo.core.results import ResultStore
    from vzoo.core.sweep import sweeps_from_store
    from vzoo.core.terminal import stdout_is_terminal

    rows = select_rows(ids, all_rows, task=task, registry=registry, default_all=True)
    if out is not None:
        check_writable_file(out, "--out")
    tolerances = parse_tolerances(tolerance or [])
    store = ResultStore()
    frame = to_frame(compare_stored(rows, store, tolerances, details))
    sweeps = sweeps_from_store(rows, store)
    if plot is not None:
        from vzoo.core.plot import write_figures
        from vzoo.core.sweep_plot import write_sweep_figures

        if plot.exists() and not plot.is_dir():
            raise UserInputError(f"--plot {plot}: not a folder; give a folder for the figures")
        charts = charts_for(frame)
        written = write_figures(charts, plot) + write_sweep_figures(sweeps, plot)
        typer.echo(
            f"wrote {len(charts) + len(sweeps)} figures ({len(written)} files) to {plot}"
            if written
            else "no figure: no selected row has an accuracy with FLOPs, params or throughput, "
            "or speed at two input sizes",
            err=True,
        )
        if report is None and out is None:
            return
    if report is None and out is None and stdout_is_terminal():
        print_terminal(frame, everything=all_rows or bool(ids), by_id=bool(ids), wide=wide)
        return
    text = render(frame, (report or ReportFormat.markdown).value, sweeps)
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        write_text_atomic(out, text)
        typer.echo(f"wrote {out}", err=True)
