"""`vzoo list` and `vzoo show`: browse the registry."""

from __future__ import annotations

import json
from enum import Enum
from typing import Optional

import typer

from vzoo.core.errors import UserInputError


class ListFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class ShowFormat(str, Enum):
    text = "text"
    json = "json"
    yaml = "yaml"


def register(app: typer.Typer) -> None:
    app.command("list")(list_rows)
    app.command("show")(show_row)


def list_rows(
    task: Optional[str] = typer.Option(None, help="classification | detection | segmentation"),
    family: Optional[str] = typer.Option(None, help="e.g. mlla, spatial-mamba, sparx-mamba"),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", help="Output format."),
) -> None:
    """List registry rows."""
    from vzoo.core.registry import FAMILIES, TASKS, load_registry

    if task is not None and task not in TASKS:
        raise UserInputError(f"unknown task '{task}'; choose one of {', '.join(TASKS)}")
    if family is not None and family not in FAMILIES:
        raise UserInputError(f"unknown family '{family}'; choose one of {', '.join(FAMILIES)}")
    rows = load_registry().select(task=task, family=family)
    cols = ("id", "family", "task", "method", "schedule", "published")
    records = [
        {
            "id": r.id,
            "family": r.family,
            "task": r.task,
            "method": r.method,
            "schedule": r.schedule,
            "published": ", ".join(f"{k}={v:g}" for k, v in r.published.items()),
        }
        for r in rows
    ]
    if fmt is ListFormat.json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
    elif fmt is ListFormat.csv:
        import csv
        import sys

        w = csv.DictWriter(sys.stdout, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(records)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"vzoo registry ({len(rows)} rows)")
        for c in cols:
            table.add_column(c)
        for rec in records:
            table.add_row(*(str(rec[c] or "") for c in cols))
        Console().print(table)


def show_row(
    row_id: str = typer.Argument(..., help="Registry row id, e.g. mlla-t-1x"),
    fmt: ShowFormat = typer.Option(ShowFormat.text, "--format", help="Output format."),
) -> None:
    """Show one registry row."""
    from vzoo.core.registry import load_registry

    row = load_registry().get(row_id)
    data = row.to_dict()
    if fmt is ShowFormat.json:
        typer.echo(json.dumps(data, indent=2))
    elif fmt is ShowFormat.yaml:
        import yaml

        typer.echo(yaml.safe_dump(data, sort_keys=False))
    else:
        for key, value in data.items():
            if isinstance(value, dict):
                typer.echo(f"{key}:")
                for k, v in value.items():
                    typer.echo(f"  {k}: {v}")
            else:
                typer.echo(f"{key}: {value}")
