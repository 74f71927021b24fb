"""The first run (`vzoo quickstart`): real measurements in about a minute on a CPU.

For the smallest classifier of each family (the lowest published FLOPs; ties: fewer params) it
counts params and FLOPs as the paper does (`vzoo flops`) and times it on the CPU (`vzoo bench`'s
CPU defaults), recording everything in the results store, so that `vzoo compare` shows those
rows measured and everything else not-measured. No download, dataset or GPU is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from vzoo.core.registry import Row
from vzoo.core.results import ResultStore
from vzoo.core.tasks import get_task

if TYPE_CHECKING:
    from vzoo.speed.run import BenchOptions


def bench_options() -> BenchOptions:
    """`vzoo bench`'s CPU defaults (batch 1, 224², 3 + 10 passes, torch's threads)."""
    from vzoo.speed.run import BenchOptions

    return BenchOptions(device="cpu")


def smallest_classifiers(rows: Iterable[Row]) -> list[Row]:
    """One classification row per family: the fewest published FLOPs (then params)."""
    from vzoo.zoo.row_models import row_available

    best: dict[str, Row] = {}

    def cost(r: Row) -> tuple[float, float]:
        inf = float("inf")
        return (r.published.get("flops_g", inf), r.published.get("params_m", inf))

    for row in rows:
        if not get_task(row.task).builds_classifier or not row_available(row):
            continue
        if row.family not in best or cost(row) < cost(best[row.family]):
            best[row.family] = row
    return list(best.values())


def measure(
    rows: list[Row], store: ResultStore, *, on_step: Callable[[str], None] = lambda _: None
) -> None:
    """Params, FLOPs and CPU speed of each row, each recorded as soon as it is measured."""
    from vzoo.flops.run import count_row
    from vzoo.flops.run import record as record_flops
    from vzoo.speed.run import bench_row
    from vzoo.speed.run import record as record_speed

    for row in rows:
        on_step(f"{row.id}: params and FLOPs")
        record_flops(count_row(row), store, "cpu")
        on_step(f"{row.id}: CPU throughput")
        record_speed([bench_row(row, bench_options())], store)
