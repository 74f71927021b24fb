"""`vzoo results`: list the results store, export it, import (merge) others' results."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

results_app = typer.Typer(
    help="The results store: list, export and import measured numbers.", no_args_is_help=True
)


class ListFormat(str, Enum):
    table = "table"
    json = "json"


def register(app: typer.Typer) -> None:
    app.add_typer(results_app, name="results")


@results_app.command("list")
def list_results(
    row: Optional[list[str]] = typer.Option(
        None, "--row", metavar="ID", help="Only this row id (repeat)."
    ),
    metric: Optional[str] = typer.Option(None, "--metric", help="Only this metric."),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", help="Output format."),
    wide: bool = typer.Option(False, "--wide", help="Every column, however wide the terminal."),
) -> None:
    """Every stored record, oldest first (all runs, not only the latest)."""
    from vzoo.cli.selection import load_rows
    from vzoo.core.errors import printable
    from vzoo.core.results import ResultStore, check_query_filters

    store = ResultStore()
    if metric is not None or row:
        check_query_filters(metric, row or [], load_rows(), store.row_ids())
    records = [r for r in store.query(metric=metric) if not row or r.row_id in row]
    if not records:  # a valid question with an empty answer: said so, exit 0
        asked = " and ".join(
            ([f"row {', '.join(map(printable, row))}"] if row else [])
            + ([f"metric {metric}"] if metric else [])
        )
        typer.echo(f"no records{' for ' + asked if asked else ''} in {store.records_dir}", err=True)
    if fmt is ListFormat.json:
        typer.echo(json.dumps([{k: v for k, v in asdict(r).items() if k != "id"}
                               for r in records], indent=2))  # fmt: skip
        return
    if not records:
        return
    from vzoo.core.results import RANDOM_INIT
    from vzoo.core.terminal import Column, print_table

    # The value carries its unit, and a --random-init record says so in the value itself: the
    # convention column is the first to go on a narrow terminal.
    columns = [
        Column("measured at", 3, no_wrap=True), Column("row", 0, no_wrap=True),
        Column("metric", 0, no_wrap=True), Column("value", 0, justify="right"),
        Column("convention", 1), Column("run", 2, no_wrap=True),
    ]  # fmt: skip
    cells = [
        [r.created_at[:19], r.row_id, r.metric,
         f"{r.value:.3f} {r.unit}".rstrip()
         + (" random-init (plumbing only)" if r.convention == RANDOM_INIT else ""),
         r.convention or "-", r.run[:12]]
        for r in records
    ]  # fmt: skip
    print_table(columns, cells, wide=wide)


@results_app.command("export")
def export_results(
    file: Path = typer.Argument(
        ..., metavar="FILE", help="Where to write (JSON lines, one run per line)."
    ),
    row: Optional[list[str]] = typer.Option(
        None, "--row", metavar="ID", help="Only runs of this row (repeat)."
    ),
) -> None:
    """Write the store's runs to FILE, to give to `vzoo results import` elsewhere."""
    from vzoo.core.errors import UserInputError
    from vzoo.core.results import ResultStore

    if file.is_dir():
        raise UserInputError(f"{file} is a directory; give a file name, e.g. {file}/results.jsonl")
    n = ResultStore().export(file, row_ids=row or None)
    typer.echo(f"wrote {n} run{'s' if n != 1 else ''} to {file}", err=True)


@results_app.command("import")
def import_results(
    sources: list[Path] = typer.Argument(
        ...,
        metavar="FILE",
        help="Export files, record files, store directories or an old results.sqlite.",
    ),
) -> None:
    """Merge results into the store; runs already present are skipped (importing is idempotent)."""
    from vzoo.core.results import ResultStore

    store = ResultStore()
    for src in sources:
        rep = store.import_from(src)
        line = (
            f"{src}: imported {rep.added_runs} run{'s' if rep.added_runs != 1 else ''} "
            f"({rep.added_records} records); {rep.added_runs} new, "
            f"{rep.present_runs} already present"
        )
        if rep.conflicts:
            line += (
                f"; {len(rep.conflicts)} kept as they were (same run id, other content: "
                f"{', '.join(rep.conflicts[:3])})"
            )
        typer.echo(line, err=True)
