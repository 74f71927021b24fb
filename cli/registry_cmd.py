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
    path: Optional[Path] = typer.Argument(None, help="Registry file (default: the packaged one)."),
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
