"""`vzoo flops` for one row: build, trace once, derive every convention, record in the store."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vzoo.core.errors import RowsRun, UserInputError, VzooError, measure_rows
from vzoo.core.metrics import METRICS
from vzoo.core.registry import Row
from vzoo.core.results import EvalResult, ResultStore, command_line, environment_fingerprint
from vzoo.flops.conventions import COMPLETE, Convention, paper_convention
from vzoo.flops.counting import FlopReport, Handle, count, count_params
from vzoo.zoo.row_models import build_countable, default_input

# A state fusion (as a family card declares it): one merged 11x11 depthwise kernel with 27
# non-zero taps (three dilated 3x3 kernels); fvcore prices the dense kernel at 121 MACs per
# output element.
SASF_DENSE_TAPS = 121
SASF_TAPS = 27


class UncountedOpsError(VzooError):
    def __init__(self, row_id: str, ops: dict[str, int]) -> None:
        listed = ", ".join(f"{k} (x{v})" for k, v in sorted(ops.items()))
        super().__init__(
            f"{row_id}: ops that cost FLOPs have no counting handle: {listed}; "
            "add handles or pass --allow-uncounted"
        )
        self.ops = ops


@dataclass(frozen=True)
class Breakdown:
    """One trace, split into the parts conventions disagree about (fvcore units)."""

    standard: int  # fvcore's own handles (conv, matmul, linear, norms, ...), state fusion excluded
    scan: int  # selective scans, by the papers' formula (FLOPs, not MACs)
    sasf_dense: int  # state fusion as traced: the merged 11x11 kernel
    batch_norm: int  # fvcore's eval-mode batch_norm price (2 per element with affine)

    @property
    def sasf_taps(self) -> int:
        return self.sasf_dense * SASF_TAPS // SASF_DENSE_TAPS

    def macs(self, conv: Convention) -> int:
        total = self.standard
        if conv.count_scan:
            total += self.scan
        if conv.sasf == "taps":
            total += self.sasf_taps
        if conv.bn_training:  # fvcore prices a training-mode batch_norm at 5 per element
            total += self.batch_norm * 3 // 2
        return total

    @property
    def true_flops(self) -> int:
        """2 x every multiply-add, plus the scan formula (which already counts FLOPs)."""
        return 2 * (self.standard + self.sasf_taps) + self.scan


@dataclass(frozen=True)
class RowFlops:
    row: Row
    input_shape: tuple[int, int, int]
    report: FlopReport
    breakdown: Breakdown
    paper: Convention
    params_paper: int
    description: str
    roi_counts: dict[str, int] = field(default_factory=dict)
    hook_macs: int | None = None  # mmcv 1.x module-hook count, where a convention uses it
    params_script: int | None = None  # params as the released script counts them, if different

    @property
    def input_text(self) -> str:
        c, h, w = self.input_shape
        return f"{c}x{h}x{w}"

    def _macs(self, conv: Convention) -> int:
        if conv.tool == "mmcv1-hooks":
            if self.hook_macs is None:
                raise VzooError(f"{self.row.id}: the mmcv 1.x hook count was not run")
            return self.hook_macs
        return self.breakdown.macs(conv)

    def script_value(self) -> float | None:
        """The released counting script's figure (G), where it differs from `paper`."""
        return None if self.paper.script is None else self._macs(self.paper.script) / 1e9

    def value(self, convention: str) -> float:
        """G(iga) units: 'paper' / 'macs' (complete) in fvcore units, 'flops' true FLOPs."""
        if convention == "paper":
            return self._macs(self.paper) / 1e9
        if convention == "macs":
            return self.breakdown.macs(COMPLETE) / 1e9
        return self.breakdown.true_flops / 1e9


def scan_handles() -> dict[str, Handle]:
    """The kernels' fvcore handles for vzoo's custom ops (selective scans)."""
    from vzoo.kernels.flop_count import FVCORE_HANDLES

    return dict(FVCORE_HANDLES)


def _state_fusion_modules(model: nn.Module) -> list[str]:
    """Layers a family card declares as state fusion (priced by taps, not as traced)."""
    from vzoo.core.cards import all_cards

    types = {t for card in all_cards() for t in card.state_fusion}
    return [
        name
        for name, m in model.named_modules()
        if f"{type(m).__module__}.{type(m).__qualname__}" in types
    ]


def _paper_params(report: FlopReport, conv: Convention, aux_head: nn.Module | None) -> int:
    if conv.params == "trainable":
        return report.params_trainable
    if conv.params == "without-aux-head" and aux_head is not None:
        return report.params_total - count_params(aux_head)[0]
    return report.params_total


def count_with_breakdown(
    module: nn.Module, inputs: tuple[Any, ...], *, params_of: nn.Module | None = None
) -> tuple[FlopReport, Breakdown]:
    """Trace `module(*inputs)` once with the scan handles; split the total into its parts."""
    handles = scan_handles()
    fusion = _state_fusion_modules(module)
    with torch.no_grad():
        report = count(module, inputs, handles, params_of=params_of, modules=fusion)
    scan_ops = {name.split("::")[-1] for name in handles}
    scan = sum(v for k, v in report.by_operator.items() if k in scan_ops)
    sasf = sum(report.by_module.values())
    breakdown = Breakdown(
        standard=report.macs - scan - sasf,
        scan=scan,
        sasf_dense=sasf,
        batch_norm=report.by_operator.get("batch_norm", 0),
    )
    return report, breakdown


def count_row(
    row: Row,
    input_shape: tuple[int, int, int] | None = None,
    *,
    device: str = "cpu",
    allow_uncounted: bool = False,
) -> RowFlops:
    shape = input_shape or default_input(row)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # random weights decide the RPN's proposals: fixed, reproducible
        cm = build_countable(row, shape)
        dev = torch.device(device)
        module = cm.module.to(dev)
        inputs = tuple(t.to(dev) if isinstance(t, torch.Tensor) else t for t in cm.inputs)
        report, breakdown = count_with_breakdown(module, inputs, params_of=cm.full_model)
        if report.uncounted and not allow_uncounted:
            raise UncountedOpsError(row.id, report.uncounted)
        conv = paper_convention(row)
        hook_macs = None
        if "mmcv1-hooks" in (conv.tool, conv.script.tool if conv.script else None):
            from vzoo.flops.hook_counter import hook_count

            torch.manual_seed(0)
            hook_macs, _ = hook_count(module, inputs)
    params_script = _paper_params(report, conv.script, cm.aux_head) if conv.script else None
    return RowFlops(
        row, shape, report, breakdown, conv, _paper_params(report, conv, cm.aux_head),
        cm.description, dict(cm.roi_counts), hook_macs, params_script,
    )  # fmt: skip


def record(result: RowFlops, store: ResultStore, device: str) -> None:
    """params_m and flops_g in the paper's convention (comparable with the published column);
    the complete count's true FLOPs as flops_true_g where the metric is known to the store."""
    env: dict[str, Any] = environment_fingerprint(device)
    conv = result.paper
    where = f"@{result.input_text}"
    rows = [
        EvalResult(result.row.id, "params_m", result.params_paper / 1e6, "M", command_line(), env,
                   convention=f"params:{conv.params}"),
        EvalResult(result.row.id, "flops_g", result.value("paper"), "G", command_line(), env,
                   convention=f"paper:{conv.name}:fvcore-macs{where}"),
    ]  # fmt: skip
    if "flops_true_g" in METRICS:
        rows.append(
            EvalResult(result.row.id, "flops_true_g", result.value("flops"), "G", command_line(),
                       env, convention=f"complete:2xmacs+scan{where}")
        )  # fmt: skip
    store.record(rows)


def is_out_of_memory(e: BaseException) -> bool:
    text = str(e).lower()
    return isinstance(e, MemoryError) or (
        isinstance(e, RuntimeError) and ("out of memory" in text or "not enough memory" in text)
    )


def count_rows(
    rows: list[Row],
    input_shape: tuple[int, int, int] | None = None,
    *,
    device: str = "cpu",
    allow_uncounted: bool = False,
    store: ResultStore | None = None,
    on_row: Callable[[Row], None] | None = None,
) -> RowsRun[RowFlops]:
    """Count every row; what `vzoo flops` runs.

    - Rows with the same inference model (`model_key`: e.g. a 1x and a 3x detector) are traced
      once and share the count.
    - One row's failure does not lose the others' counts (`core.errors.measure_rows`).
    - Only counts at the paper's input size are recorded in `store` (comparable with the
      published figure).
    - `--device cuda` without CUDA is bad input, found before any model is built.
    """
    from vzoo.core.inputs import check_device
    from vzoo.zoo.row_models import model_key

    check_device(device)
    counted: dict[str, RowFlops] = {}

    def count(row: Row) -> RowFlops:
        key = model_key(row, input_shape or default_input(row))
        if key in counted:  # same inference model as a row already counted
            return dataclasses.replace(counted[key], row=row)
        counted[key] = _count_or_explain(row, input_shape, device, allow_uncounted)
        return counted[key]

    def keep(res: RowFlops) -> None:
        if store is not None and res.input_shape == default_input(res.row):
            record(res, store, device)

    return measure_rows(rows, count, on_row=on_row, on_result=keep)


def _count_or_explain(
    row: Row, input_shape: tuple[int, int, int] | None, device: str, allow_uncounted: bool
) -> RowFlops:
    try:
        return count_row(row, input_shape, device=device, allow_uncounted=allow_uncounted)
    except (MemoryError, RuntimeError) as e:
        if not is_out_of_memory(e):
            raise
        _, h, w = input_shape or default_input(row)
        raise UserInputError(
            f"{row.id}: counting at {h}x{w} needs more {device} memory than is free: "
            "use a smaller --input"
        ) from None
