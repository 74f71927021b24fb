"""`vzoo list` and `vzoo show`: browse the registry."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from vzoo.cli.options import registry_option, task_option
from vzoo.cli.selection import check_task, load_rows
from vzoo.core.errors import UserInputError
from vzoo.core.metrics import format_published


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
    patterns: Optional[list[str]] = typer.Argument(
        None,
        metavar="PATTERN",
        help="Only row ids matching one of these shell wildcards, e.g. '*mamba*' (quote it).",
    ),
    task: Optional[str] = task_option(),
    family: Optional[str] = typer.Option(None, help="A family (`vzoo list` shows them)."),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", help="Output format."),
    source: Optional[str] = typer.Option(
        None, "--source", help="mmdet: every model of the installed mmdet's model index."
    ),
    registry: Optional[list[Path]] = registry_option(),
    wide: bool = typer.Option(False, "--wide", help="Every column, however wide the terminal."),
) -> None:
    """List registry rows (the packaged rows, mmdet baselines, plugins' rows, overlays)."""
    from vzoo.core import mmdet_index
    from vzoo.core.registry import families, mmdet_registry

    check_task(task)
    if source not in (None, mmdet_index.SOURCE):
        raise UserInputError(f"unknown source '{source}'; choose {mmdet_index.SOURCE}")
    if source == mmdet_index.SOURCE:
        reg = mmdet_registry()
        if reg is None:
            raise UserInputError("mmdet is not installed: pip install mmdet==3.3.0")
    else:
        reg = load_rows(registry)
    known = dict.fromkeys([*families(), *(r.family for r in reg)])
    if family is not None and family not in known:
        raise UserInputError(f"unknown family '{family}'; choose one of {', '.join(known)}")
    rows = reg.select(task=task, family=family, patterns=patterns)
    if patterns and not rows:
        raise UserInputError(
            f"no row id matches {' or '.join(repr(p) for p in patterns)}"
            + (" with these filters" if task or family else "")
            + "; `vzoo list` shows every id"
        )
    cols = ("id", "family", "task", "method", "schedule", "published")
    records = [
        {
            "id": r.id,
            "family": r.family,
            "task": r.task,
            "method": r.method,
            "schedule": r.schedule,
            "published": ", ".join(
                f"{k}={format_published(k, v, r.published_printed.get(k))}"
                for k, v in r.published.items()
            ),
        }
        for r in rows
    ]
    if fmt is ListFormat.json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
    elif fmt is ListFormat.csv:
        import csv
        import sys

        from vzoo.core.metrics import METRICS

        # one column per published metric (its unit in the header), the number alone in the cell
        metrics = [m for m in METRICS if any(m in r.published for r in rows)]
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow([*cols[:-1], *(f"{m} [{METRICS[m].unit}]" for m in metrics)])
        for row, rec in zip(rows, records, strict=True):
            numbers = [f"{row.published[m]:g}" if m in row.published else "" for m in metrics]
            w.writerow([*(rec[c] or "" for c in cols[:-1]), *numbers])
    else:
        from vzoo.core.terminal import Column, print_table

        # ids are what users copy: never cut; then what the row claims, then how to place it
        order = {"id": 0, "published": 1, "task": 2, "family": 3, "method": 4, "schedule": 5}
        columns = [Column(c, order[c], no_wrap=c == "id") for c in cols]
        cells = [[str(rec[c] or "") for c in cols] for rec in records]
        print_table(columns, cells, title=f"vzoo registry ({len(rows)} rows)", wide=wide)


def show_row(
    row_id: str = typer.Argument(..., metavar="ID", help="Registry row id (see `vzoo list`)."),
    fmt: ShowFormat = typer.Option(ShowFormat.text, "--format", help="Output format."),
    registry: Optional[list[Path]] = registry_option(),
) -> None:
    """Show one registry row."""
    row = load_rows(registry).get(row_id)
    data = row.to_dict()
    if fmt is ShowFormat.json:
        typer.echo(json.dumps(data, indent=2))
    elif fmt is ShowFormat.yaml:
        import yaml

        typer.echo(yaml.safe_dump(data, sort_keys=False))
    else:
        import shutil

        width = shutil.get_terminal_size().columns  # COLUMNS when set
        for line in _text_lines(data):
            for part in _wrap(line, width):
                typer.echo(part)


def _wrap(line: str, width: int) -> list[str]:
    """A long `key: value` / `- item` line wrapped at spaces, continued under its text (URLs
    and paths stay whole, on a line of their own if need be)."""
    import textwrap

    body = line.lstrip(" ")
    hang = " " * (len(line) - len(body) + (2 if body.startswith("- ") else 4))
    return textwrap.wrap(
        line, width=max(width, 40), subsequent_indent=hang, break_long_words=False,
        break_on_hyphens=False, drop_whitespace=True,
    ) or [line]  # fmt: skip


def _text_lines(data: dict[str, Any], indent: str = "") -> list[str]:
    """A row as indented `key: value` lines (lists one item a line, null as '-')."""
    lines: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines += _text_lines(value, indent + "  ")
        elif key == "flops_input" and value:
            lines.append(f"{indent}{key}: {'x'.join(map(str, value))}")
        elif isinstance(value, (list, tuple)):
            lines.append(f"{indent}{key}:" + ("" if value else " -"))
            lines += [f"{indent}  - {v}" for v in value]
        elif value is None:
            lines.append(f"{indent}{key}: -")
        elif isinstance(value, float):
            lines.append(f"{indent}{key}: {value:g}")
        else:
            lines.append(f"{indent}{key}: {value}")
    return lines
