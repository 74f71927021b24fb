"""The options every row command shares, declared once: row ids, `--all`, `--task`, `--device`,
`--input`, `--registry`. A command passes its own help text where its meaning narrows (download's
`--all` is every row that lists weights)."""

from __future__ import annotations

from typing import Any

import typer

TASK_HELP = "classification | detection | segmentation"


def ids_argument(help: str = "Row ids.") -> Any:
    return typer.Argument(None, metavar="ID", help=help)


def all_option(help: str = "Every row (of --task).") -> Any:
    return typer.Option(False, "--all", help=help)


def task_option(help: str = TASK_HELP) -> Any:
    return typer.Option(None, "--task", help=help)


def device_option() -> Any:
    return typer.Option("cpu", "--device", help="cpu | cuda")


def input_option() -> Any:
    return typer.Option(
        None, "--input", help="HxW (default: the paper's: 224x224, 1280x800, 512x2048)."
    )


def registry_option() -> Any:
    """`--registry PATH` (repeatable): a registry file laid over the packaged rows."""
    return typer.Option(
        None,
        "--registry",
        metavar="FILE",
        help="Registry file laid over the packaged rows (repeatable; replaces "
        "VZOO_REGISTRY=a.yaml:b.yaml). A row id defined twice is an error.",
    )
