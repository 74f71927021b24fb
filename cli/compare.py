"""`vzoo compare`: published vs latest measured numbers, as markdown/csv/json/html."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from vzoo.cli.selection import registry_option, select_rows


class ReportFormat(str, Enum):
    markdown = "markdown"
    csv = "csv"
    json = "json"
    html = "html"


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


def compare(
    ids: Optional[list[str]] = typer.Argument(None, help="Row ids (default: all rows)."),
    all_rows: bool = typer.Option(False, "--all", help="All rows (the default without ids)."),
    task: Optional[str] = typer.Option(None, help="Only rows of this task."),
    report: ReportFormat = typer.Option(ReportFormat.markdown, "--report", help="Report format."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the report here (atomically)."),
    tolerance: Optional[list[str]] = typer.Option(
        None, "--tolerance", help="METRIC=VALUE, e.g. box_ap=0.5 or flops_g=0.05 (relative)."
    ),
    registry: Optional[list[Path]] = registry_option(),
) -> None:
    """Compare published and measured numbers; one verdict per (row, metric)."""
    from vzoo.core.atomic import write_text_atomic
    from vzoo.core.metrics import SPEED_METRICS
    from vzoo.core.report import compare as build
    from vzoo.core.report import parse_tolerances, render
    from vzoo.core.results import ResultStore

    rows = select_rows(ids, all_rows, task=task, registry=registry, default_all=True)
    store = ResultStore()
    speed = [rec for metric in SPEED_METRICS for rec in store.query(metric=metric)]
    records = build(rows, store.latest(), parse_tolerances(tolerance or []), speed)
    text = render(records, report.value)
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        write_text_atomic(out, text)
        typer.echo(f"wrote {out}", err=True)
