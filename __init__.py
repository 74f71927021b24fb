"""vzoo: a model zoo and benchmarking CLI for visual state-space and linear-attention backbones.

Importing `vzoo` is cheap: torch, mmdet and friends are imported only by the modules that need them
(pandas too: `compare_frame` imports it when called).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn

    from vzoo.hub import Downloader

from vzoo.core import __version__

__all__ = ["__version__", "compare_frame", "create_model"]
# documented subpackages of the API (vzoo.zoo.build_classifier, vzoo.kernels.selective_scan):
# listed by dir(), not in __all__ (a star import must stay torch-free)
_PUBLIC_SUBPACKAGES = ("kernels", "zoo")


def __dir__() -> list[str]:
    """Only the public API: not the modules vzoo imported along the way (cli, core, hub ...)."""
    return sorted([*__all__, *_PUBLIC_SUBPACKAGES])


def create_model(
    row_id: str,
    pretrained: bool = False,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    offline: bool | None = None,
    registry: Sequence[str | os.PathLike[str]] = (),
    downloader: Downloader | None = None,
) -> nn.Module:
    """A registry row's model (`vzoo list` shows the ids), in eval mode, as `timm.create_model`.

    `pretrained=True`: with the row's published weights, fetched as `vzoo download` fetches them
    (the cache first; resumable; sha256-verified against the registry's pin) and loaded strictly
    by the checkpoint loader that never runs a pickle. `pretrained=False`: as initialised (random
    init; seed torch for a repeatable one). `checkpoint`: load this file instead. `offline`:
    never touch the network (default: `VZOO_OFFLINE`). `registry`: overlay files, as
    `--registry`. `downloader`: a `vzoo.hub.Downloader` (its endpoints, retries, cache).

    A classification row returns the classifier (B,3,H,W) -> logits; a detection or segmentation
    row the whole mmdet/mmseg model its config describes.
    """
    from pathlib import Path

    from vzoo.core.registry import load_registry
    from vzoo.evaluation.pretrained import pretrained_model

    row = load_registry(overlays=[Path(p) for p in registry]).get(row_id)
    return pretrained_model(
        row,
        pretrained=pretrained,
        checkpoint=Path(checkpoint) if checkpoint is not None else None,
        offline=offline,
        downloader=downloader,
    )


def compare_frame(
    ids: str | Iterable[str] | None = None,
    *,
    task: str | None = None,
    tolerances: Mapping[str, float] | None = None,
    store: str | None = None,
) -> pd.DataFrame:
    """Published vs measured as a tidy DataFrame: one row per (row id, metric).

    Columns: those of `vzoo compare --report json` (id, metric, published, measured, delta,
    verdict), then family, task, size, then arch, method, schedule, baseline, unit, tolerance,
    tolerance_kind, measured_at, convention, published_printed, protocol (speed records of
    `vzoo bench`). Missing numbers are NaN.
    `ids`: row ids (default: every row); `task`: only that task's rows; `tolerances`: per-metric
    overrides as `--tolerance`; `store`: a results store directory (default: the one under
    $VZOO_HOME).
    """
    from vzoo.core.registry import load_registry
    from vzoo.core.report import compare_stored, to_frame
    from vzoo.core.results import ResultStore
    from vzoo.core.tasks import check_task

    check_task(task)
    wanted = [ids] if isinstance(ids, str) else (list(ids) if ids is not None else None)
    rows = load_registry().select(wanted or None, task=task)
    return to_frame(compare_stored(rows, ResultStore(store), tolerances))
