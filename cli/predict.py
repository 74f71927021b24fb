"""`vzoo predict`: one picture through a row's model, drawn by mmdet's / mmseg's visualiser."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vzoo import settings
from vzoo.cli.options import device_option, registry_option
from vzoo.cli.selection import load_rows


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)


def predict(
    row_id: str = typer.Argument(..., metavar="ID", help="Row id (see `vzoo list`)"),
    image: Path = typer.Argument(..., metavar="IMAGE", help="The picture (png, jpg, ...)."),
    out: Path = typer.Option(..., "--out", help="Write the drawn picture here (png, jpg, ...)."),
    score_thr: float = typer.Option(
        0.3, "--score-thr", help="Detection rows: draw boxes scoring at least this."
    ),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint", help="Use this file instead of the row's downloaded weights."
    ),
    random_init: bool = typer.Option(
        False, "--random-init", help="Plumbing test: the model's init, no weights."
    ),
    device: str = device_option(),
    cfg_options: Optional[list[str]] = typer.Option(
        None,
        "--cfg-options",
        metavar="KEY=VALUE",
        help="Override a config key, mmengine syntax KEY=VALUE (repeat).",
    ),
    offline: bool = typer.Option(False, "--offline", help="Never touch the network."),
    registry: Optional[list[Path]] = registry_option(),
) -> None:
    """Run a row's model on IMAGE and write it with boxes, masks or the segmentation drawn."""
    from vzoo.cli.evaluate import parse_cfg_options
    from vzoo.core.errors import UserInputError
    from vzoo.core.inputs import check_device

    row = load_rows(registry).get(row_id)
    if not 0.0 <= score_thr <= 1.0:
        raise UserInputError(f"--score-thr {score_thr}: give a score between 0 and 1")
    if checkpoint is not None and random_init:
        raise UserInputError("give --checkpoint or --random-init, not both")
    if not image.is_file():  # before any heavy import: the answer is immediate
        raise UserInputError(f"image not found: {image}")
    from vzoo.evaluation.predict import PredictOptions, check_out
    from vzoo.evaluation.predict import predict as run_predict

    check_out(out)
    check_device(device)
    options = PredictOptions(
        checkpoint=checkpoint, random_init=random_init, score_thr=score_thr, device=device,
        offline=offline or settings.offline(),
        cfg_options=parse_cfg_options(cfg_options or []),
    )  # fmt: skip
    result = run_predict(row, image, out, options)
    for line in result.lines:
        typer.echo(line)
    typer.echo(f"wrote {result.out_file}", err=True)
