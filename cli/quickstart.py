"""`vzoo quickstart`: measure the smallest model of each family on this CPU, then compare."""

from __future__ import annotations

import time
from typing import Optional

import typer

from vzoo.cli.compare import ReportFormat
from vzoo.cli.options import task_option


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)


def quickstart(
    report: Optional[ReportFormat] = typer.Option(
        None,
        "--report",
        help="Report format [default: markdown; on a terminal, a table of what was measured].",
    ),
    task: Optional[str] = task_option("Only this task's rows in the report."),
) -> None:
    """Params, FLOPs and CPU speed of the smallest classifier of each family (about a minute,
    no download), recorded; then the published-vs-measured report over every row."""
    from vzoo.speed.stability import settle_wait_policy

    settle_wait_policy()  # before torch loads, as `vzoo bench` does
    from vzoo.cli.selection import check_task, load_rows
    from vzoo.core.report import compare_stored, print_terminal, render, to_frame
    from vzoo.core.results import ResultStore
    from vzoo.core.terminal import stdout_is_terminal

    check_task(task)
    registry = load_rows()
    store = ResultStore()
    from vzoo.workflows.quickstart import measure, smallest_classifiers

    rows = smallest_classifiers(registry)
    started = time.perf_counter()
    typer.echo(
        f"measuring {', '.join(r.id for r in rows)} on this CPU (results store: {store.path})",
        err=True,
    )
    measure(rows, store, on_step=lambda what: typer.echo(f"  {what}", err=True))
    typer.echo(f"measured in {time.perf_counter() - started:.0f} s", err=True)
    records = compare_stored(registry.select(task=task), store)
    if report is None and stdout_is_terminal():  # as `vzoo compare` on a terminal
        print_terminal(to_frame(records), everything=False)
        return
    text = render(records, (report or ReportFormat.markdown).value)
    typer.echo(text, nl=not text.endswith("\n"))
