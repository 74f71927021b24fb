"""`vzoo data`: small synthetic datasets in the real formats (for smoke tests without COCO)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

data_app = typer.Typer(help="Synthetic datasets for smoke tests.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


def _check_target(path: Path, kind: str, force: bool) -> None:
    from vzoo.core.files import check_writable_dir
    from vzoo.evaluation.synthetic import check_not_overwriting

    check_writable_dir(path, "dataset directory")
    check_not_overwriting(path, kind, force)


_FORCE_HELP = "Overwrite a dataset already in the directory."


def _writing(path: Path, write: Callable[[], Path]) -> Path:
    """A write that fails after the checks (disk full, a file appearing): one line, exit 1."""
    from vzoo.core.errors import VzooError

    try:
        return write()
    except OSError as e:
        where = e.filename or path
        raise VzooError(f"could not write the dataset: {where}: {e.strerror}") from None


@data_app.command("synth-coco")
def synth_coco(
    path: Path = typer.Argument(
        ..., metavar="PATH", help="Directory to write (val2017/ + annotations/)."
    ),
    images: int = typer.Option(8, "--images", min=1, help="Number of images."),
    seed: int = typer.Option(0, "--seed"),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
) -> None:
    """Write a small COCO-format instance-segmentation set that mmdet's CocoDataset reads."""
    from vzoo.evaluation.synthetic import write_synthetic_coco

    _check_target(path, "coco", force)
    root = _writing(path, lambda: write_synthetic_coco(path, images=images, seed=seed))
    typer.echo(f"wrote {images} images and annotations/instances_val2017.json under {root}")


@data_app.command("synth-imagenet")
def synth_imagenet(
    path: Path = typer.Argument(
        ..., metavar="PATH", help="Directory to write (val/<wnid>/*.JPEG)."
    ),
    classes: int = typer.Option(4, "--classes", min=1),
    per_class: int = typer.Option(2, "--per-class", min=1),
    seed: int = typer.Option(0, "--seed"),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
) -> None:
    """Write a small ImageFolder val split."""
    from vzoo.evaluation.synthetic import write_synthetic_imagenet

    _check_target(path, "imagenet", force)
    root = _writing(
        path,
        lambda: write_synthetic_imagenet(path, classes=classes, per_class=per_class, seed=seed),
    )
    typer.echo(f"wrote {classes * per_class} images under {root / 'val'}")
