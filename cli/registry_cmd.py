"""`vzoo registry check`: validate registry.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

registry_app = typer.Typer(help="Validate and maintain registry.yaml.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")


@registry_app.command("check")
def check(
    path: Optional[Path] = typer.Argument(
        None, metavar="[FILE]", help="Registry file (default: the packaged one)."
    ),
) -> None:
    """Validate the registry: one line per problem, naming the row id and the field."""
    from vzoo.core.errors import RegistryError
    from vzoo.core.registry import load_registry, missing_configs

    try:
        reg = load_registry(path)
    except RegistryError as e:
        for p in e.problems:
            typer.echo(f"{e.path}: {p}", err=True)
        raise typer.Exit(2) from None
    problems = missing_configs(reg)
    for p in problems:
        typer.echo(f"{reg.path}: {p}", err=True)
    if problems:
        raise typer.Exit(2)
    typer.echo(f"{reg.path}: {len(reg)} rows, valid")


@registry_app.command("pin")
def pin(
    row_id: str = typer.Argument(
        ..., metavar="ID", help="Row id whose downloaded checkpoint to pin."
    ),
    registry: Optional[Path] = typer.Option(
        None,
        "--registry",
        metavar="FILE",
        help="Registry overlay to write the pin into (default: $VZOO_HOME/registry.yaml; the "
        "installed package is never edited).",
    ),
    force: bool = typer.Option(False, "--force", help="Replace a different pinned sha256."),
) -> None:
    """Hash the cached checkpoint again and write its sha256 and size into your overlay."""
    from vzoo.hub.pin import pin_cached

    typer.echo(pin_cached(row_id, registry, force=force))
