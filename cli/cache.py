"""`vzoo cache`: list, locate, verify and remove downloaded checkpoints."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from vzoo.cli.options import registry_option
from vzoo.cli.selection import load_rows

cache_app = typer.Typer(help="Inspect and maintain the checkpoint cache.", no_args_is_help=True)


class ListFormat(str, Enum):
    table = "table"
    json = "json"


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


def _missing(row_id: str, registry: Optional[list[Path]]) -> Exception:
    """Unknown id (exit 2, closest ids) or a known row that is simply not downloaded (exit 1)."""
    from vzoo.core.errors import UnknownRowError, VzooError

    reg = load_rows(registry)
    if row_id not in reg:
        return UnknownRowError(row_id, reg.closest(row_id))
    return VzooError(f"{row_id}: not in the cache; run `vzoo download {row_id}`")


@cache_app.command("list")
def list_cache(
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", help="Output format."),
    wide: bool = typer.Option(False, "--wide", help="Every column, however wide the terminal."),
) -> None:
    """Cached checkpoints: row id, size, sha256 (pinned or recorded), source."""
    from vzoo.hub.cache import CheckpointCache

    cache = CheckpointCache()
    entries = [e for e in cache.entries(strict=True) if cache.blob_path(e.sha256).is_file()]
    if fmt is ListFormat.json:
        rows = [{"row_id": e.row_id, **e.to_json()} for e in entries]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not entries:
        typer.echo(f"no checkpoints cached in {cache.root}")
        return
    from vzoo.core.terminal import Column, print_table

    columns = [
        Column("row", 0, no_wrap=True), Column("MiB", 1, justify="right"),
        Column("sha256", 2, no_wrap=True), Column("sha256 is", 3), Column("source", 4),
        Column("file", 5, no_wrap=True),
    ]  # fmt: skip
    cells = [
        [
            e.row_id, f"{e.size / 2**20:.1f}", e.sha256[:12], "pinned" if e.pinned else "recorded",
            e.source, e.filename,
        ]
        for e in entries
    ]  # fmt: skip
    print_table(columns, cells, title="cached checkpoints", wide=wide)


@cache_app.command("path")
def path(
    row_id: str = typer.Argument(..., metavar="ID", help="Row id."),
    registry: Optional[list[Path]] = registry_option(),
) -> None:
    """Print the cached checkpoint's path (exit 1 if it is not downloaded)."""
    from vzoo.hub.cache import CheckpointCache

    cache = CheckpointCache()
    entry = cache.get(row_id)
    if entry is None:
        raise _missing(row_id, registry)
    typer.echo(str(cache.blob_path(entry.sha256)))


@cache_app.command("verify")
def verify(
    row_id: Optional[str] = typer.Argument(
        None, metavar="[ID]", help="Row id (default: every cached row)."
    ),
    registry: Optional[list[Path]] = registry_option(),
) -> None:
    """Check cached files (recorded and pinned sha256, host digests, zip CRC-32s); a corrupt one
    is removed (download it again). Each ok line names the checks it used."""
    from vzoo.core.errors import VzooError
    from vzoo.hub.cache import CheckpointCache
    from vzoo.hub.verify import verify_entry

    cache = CheckpointCache()
    entries = cache.entries(strict=True)
    if row_id is not None:
        entries = [e for e in entries if e.row_id == row_id]
        if not entries:
            raise _missing(row_id, registry)
    if not entries:
        typer.echo(f"no checkpoints cached in {cache.root}")
        return
    reg = load_rows(registry)
    bad: list[str] = []
    for e in entries:
        weights = reg.get(e.row_id).weights if e.row_id in reg else None
        verdict = verify_entry(cache, e, weights.sha256 if weights is not None else None)
        typer.echo(verdict.line, err=not verdict.ok)
        if not verdict.ok:
            bad.append(e.row_id)
    if bad:
        raise VzooError(f"{len(bad)} of {len(entries)} cached checkpoints failed verification")


@cache_app.command("add")
def add(
    row_id: str = typer.Argument(..., metavar="ID", help="Row id the file is the checkpoint of."),
    file: Path = typer.Argument(..., metavar="FILE", help="The hand-downloaded checkpoint."),
    registry: Optional[list[Path]] = registry_option(),
) -> None:
    """Add a hand-downloaded checkpoint: hashed and checked like a download (the row's pin, the
    host's digest, or that it is a whole loadable checkpoint), then copied into the cache."""
    from vzoo.hub.fetch import Downloader, result_line

    row = load_rows(registry).get(row_id)  # unknown id: exit 2 with the closest ids
    typer.echo(result_line(Downloader().add_file(row, file)))


@cache_app.command("remove")
def remove(
    row_id: str = typer.Argument(..., metavar="ID", help="Row id."),
    registry: Optional[list[Path]] = registry_option(),
) -> None:
    """Remove a row's checkpoint from the cache (the file goes once no row uses it)."""
    from vzoo.hub.cache import CheckpointCache

    entry, dropped_partial = CheckpointCache().remove(row_id)
    if entry is None and not dropped_partial:
        raise _missing(row_id, registry)
    what = f"sha256 {entry.sha256[:12]}" if entry is not None else "partial download"
    typer.echo(f"{row_id}: removed ({what})")
