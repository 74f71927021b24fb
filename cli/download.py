"""`vzoo download`: fetch rows' checkpoints into the cache, resumable and verified."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from vzoo.cli.options import all_option, ids_argument, registry_option, task_option
from vzoo.cli.selection import select_rows


class Prefer(str, Enum):
    original = "original"
    mirror = "mirror"


def register(app: typer.Typer) -> None:
    app.command("download")(download)


def download(
    ids: Optional[list[str]] = ids_argument("Row ids to download."),
    all_rows: bool = all_option("Every row that lists weights."),
    task: Optional[str] = task_option("With --all: only rows of this task."),
    prefer: Prefer = typer.Option(
        Prefer.original, "--prefer", help="Try the published URLs or the mirrors first."
    ),
    offline: bool = typer.Option(
        False, "--offline", help="Never touch the network (also VZOO_OFFLINE=1)."
    ),
    with_logs: bool = typer.Option(
        False, "--with-logs", help="Drive folders: keep the training logs beside the checkpoint."
    ),
    timeout: Optional[float] = typer.Option(
        None,
        "--timeout",
        min=1.0,
        metavar="SECONDS",
        help="Read timeout (default 20 s): a host silent this long twice in a row fails.",
    ),
    registry: Optional[list[Path]] = registry_option(),
) -> None:
    """Download checkpoints (sha256-verified, resumable, cached under the vzoo home)."""
    from vzoo.core.errors import RowsRun, UserInputError
    from vzoo.hub.fetch import Downloader, result_line
    from vzoo.hub.progress import default_progress

    # unknown ids fail here, before any download
    rows = select_rows(ids, all_rows, task=task, registry=registry)
    if all_rows:
        skipped = [r.id for r in rows if r.weights is None]
        if skipped:
            typer.echo(f"vzoo: no weights listed for {', '.join(skipped)}; skipped", err=True)
        rows = [r for r in rows if r.weights is not None]
    else:
        for r in rows:
            if r.weights is None:
                raise UserInputError(f"{r.id}: the registry lists no weights for this row")
    progress = default_progress()
    downloader = (
        Downloader(progress=progress, timeout=timeout)
        if timeout is not None
        else Downloader(progress=progress)
    )
    run: RowsRun[None] = RowsRun()
    try:
        for row in rows:
            with run.attempt(row, alone=len(rows) == 1) as attempt:
                res = downloader.fetch(
                    row, prefer=prefer.value, offline=offline or None, with_logs=with_logs
                )
            if attempt.failed:
                progress.close()  # the line goes below the finished bar, not into it
                typer.echo(f"vzoo: failed: {run.failures[-1]}", err=True)
                continue
            progress.close()
            typer.echo(result_line(res))
    finally:
        progress.close()
    run.raise_if_failed(len(rows), "downloads")
