"""vzoo: a model zoo and benchmarking CLI for visual state-space and linear-attention backbones.

Importing `vzoo` is cheap: torch, mmdet and friends are imported only by the modules that need them
(pandas too: `compare_frame` imports it when called).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

from vzoo.core import __version__

__all__ = ["__version__", "compare_frame"]


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
