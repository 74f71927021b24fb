"""What every row-reading command shares: the rows, and "ids or --all" (`cli.options` declares
the options).

Commands only parse arguments; the rows come from `vzoo.core.registry`. One helper here so
`list`, `show`, `download`, `cache`, `flops`, `eval`, `compare` (and `bench`) agree on both,
and the commands that work row after row end the same way (`end_rows_run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vzoo.core.errors import UserInputError, VzooError

if TYPE_CHECKING:
    from vzoo.core.registry import Registry, Row


def load_rows(registry: list[Path] | None = None) -> Registry:
    """The packaged rows, plugins' rows and the overlays (`--registry`, else `VZOO_REGISTRY`);
    the `VZOO_*` settings the rows' commands read are checked first."""
    from vzoo.core.inputs import check_environment
    from vzoo.core.registry import load_registry

    check_environment()

    return load_registry(overlays=registry or ())


def end_rows_run(failures: list[str], failed_rows: list[str], total: int, what: str) -> None:
    """The end of a command over rows (the many-rows policy of `core.errors`): a lone row's lone
    failure is the command's own error; otherwise each failure is one line, then one error naming
    the rows."""
    from vzoo.core.errors import raise_if_failed

    if total == 1 and len(failures) == 1:
        raise VzooError(failures[0])
    for line in failures:
        typer.echo(f"vzoo: failed: {line}", err=True)
    raise_if_failed(failed_rows, total, what)


def check_task(task: str | None) -> None:
    from vzoo.core.tasks import check_task as check_known_task

    check_known_task(task)


def select_rows(
    ids: list[str] | None,
    all_rows: bool,
    *,
    task: str | None = None,
    registry: list[Path] | None = None,
    default_all: bool = False,
) -> list[Row]:
    """Rows named by id (unknown id: exit 2 with the closest ids), or every row of `task`.

    Ids and `--all` together are an error; neither is one too unless `default_all` (compare).
    An empty selection is an error: a command that did nothing must not look like success.
    """
    if ids and all_rows:
        raise UserInputError("give row ids or --all, not both")
    if not ids and not all_rows and not default_all:
        raise UserInputError("give row ids or --all (see `vzoo list`)")
    check_task(task)
    rows = load_rows(registry).select(ids or None, task=task)
    if not rows:
        raise UserInputError("no rows selected")
    return rows
