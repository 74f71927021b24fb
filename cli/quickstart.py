"""`vzoo quickstart`: measure the smallest model of each family on this CPU, then compare."""

from __future__ import annotations

import time
from typing import Optional

import typer

from vzoo.cli.compare import ReportFormat


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)


def quickstart(
    report: ReportFormat = typer.Option(ReportFormat.markdown, "--report", help="Report format."),
    task: Optional[str] = typer.Option(None, help="Only this task's rows in the report."),
) -> None:
    """Params, FLOPs and CPU speed of the smallest classifier of each family (about a minute,
    no download), recorded; then the published-vs-measured report over every row."""
    from vzoo.core.errors import UserInputError
    from vzoo.core.metrics import SPEED_METRICS
    from vzoo.core.registry import TASKS, load_registry
    from vzoo.core.report import compare, render
    from vzoo.core.results import ResultStore

    if task is not None and task not in TASKS:
        raise UserInputError(f"unknown task '{task}'; choose one of {', '.join(TASKS)}")
    registry = load_registry()
    store = ResultStore()
    from vzoo.speed.quickstart import measure, smallest_classifiers

    rows = smallest_classifiers(registry)
    started = time.perf_counter()
    typer.echo(
        f"measuring {', '.join(r.id for r in rows)} on this CPU (results store: {store.path})",
        err=True,
    )
    measure(rows, store, on_step=lambda what: typer.echo(f"  {what}", err=True))
    typer.echo(f"measured in {time.perf_counter() - started:.0f} s", err=True)
    speed = [rec for metric in SPEED_METRICS for rec in store.query(metric=metric)]
    selected = registry.select(task=task)
    text = render(compare(selected, store.latest(), None, speed), report.value)
    typer.echo(text, nl=not text.endswith("\n"))
