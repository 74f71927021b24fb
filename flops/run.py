"""`vzoo flops` for one row: build, count, record (params_m, flops_g, flops_true_g) in the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vzoo.core.errors import VzooError
from vzoo.core.registry import Row
from vzoo.core.results import EvalResult, ResultStore, command_line, environment_fingerprint
from vzoo.flops.counting import FlopReport, Handle, count
from vzoo.flops.models import build_countable, default_input


class UncountedOpsError(VzooError):
    def __init__(self, row_id: str, ops: dict[str, int]) -> None:
        listed = ", ".join(f"{k} (x{v})" for k, v in sorted(ops.items()))
        super().__init__(
            f"{row_id}: ops that cost FLOPs have no counting handle: {listed}; "
            "add handles or pass --allow-uncounted"
        )
        self.ops = ops


@dataclass(frozen=True)
class RowFlops:
    row: Row
    input_shape: tuple[int, int, int]
    report: FlopReport
    description: str

    @property
    def convention(self) -> str:
        c, h, w = self.input_shape
        return f"fvcore-macs@{c}x{h}x{w}"


def scan_handles() -> dict[str, Handle]:
    """The kernels' fvcore handles for vzoo's custom ops (selective scans)."""
    from vzoo.kernels.flop_count import FVCORE_HANDLES

    return dict(FVCORE_HANDLES)


def count_row(
    row: Row,
    input_shape: tuple[int, int, int] | None = None,
    *,
    device: str = "cpu",
    allow_uncounted: bool = False,
) -> RowFlops:
    shape = input_shape or default_input(row)
    cm = build_countable(row, shape)
    dev = torch.device(device)
    module = cm.module.to(dev)
    inputs = tuple(t.to(dev) if isinstance(t, torch.Tensor) else t for t in cm.inputs)
    with torch.no_grad():
        report = count(module, inputs, scan_handles(), params_of=cm.full_model)
    if report.uncounted and not allow_uncounted:
        raise UncountedOpsError(row.id, report.uncounted)
    return RowFlops(row, shape, report, cm.description)


def record(result: RowFlops, store: ResultStore, device: str) -> None:
    env: dict[str, Any] = environment_fingerprint(device)
    conv = result.convention
    rep = result.report
    store.record(
        [
            EvalResult(result.row.id, "params_m", rep.params_total / 1e6, "M", command_line(), env,
                       convention="total-params"),
            EvalResult(result.row.id, "flops_g", rep.macs / 1e9, "G", command_line(), env,
                       convention=conv),
            EvalResult(result.row.id, "flops_true_g", rep.flops / 1e9, "G", command_line(), env,
                       convention=conv.replace("macs", "flops")),
        ]
    )  # fmt: skip
