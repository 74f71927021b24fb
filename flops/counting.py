"""Count params and FLOPs with fvcore, the way the papers do, and say what was not counted.

fvcore counts one multiply-add as one "flop" (a MAC): that is the unit of every published FLOPs
figure here. vzoo reports it as `macs` (convention "paper" = "macs") and `flops` = 2 x MACs.
fvcore silently skips ops it has no handle for; vzoo makes that explicit: ops the papers leave
out too (elementwise, NMS, RoIAlign) are listed as skipped, and any other op without a handle is
"uncounted" and fails the count unless allowed.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from math import prod
from typing import Any

from torch import nn

Handle = Callable[[list[Any], list[Any]], Any]

# Ops fvcore has no handle for and the papers' numbers leave out (elementwise / reductions, and
# mmcv's NMS and RoIAlign in detectors, which VMamba-lineage mmdet_flops also skip): reported, not
# counted.
NOT_COUNTED_BY_PAPERS = frozenset(
    {"prim::PythonOp.NMSop", "prim::PythonOp.RoIAlignFunction", "aten::log2"}
) | frozenset(
    f"aten::{op}"
    for op in (
        "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "neg", "rsub", "pow", "sqrt",
        "rsqrt", "exp", "exp_", "log", "abs", "sign", "reciprocal", "sigmoid", "sigmoid_", "tanh",
        "silu", "silu_", "gelu", "gelu_", "relu_", "elu", "elu_", "softplus", "softmax",
        "log_softmax", "hardtanh",
        "hardswish", "leaky_relu", "mean", "sum", "cumsum", "prod", "var", "std", "norm",
        "linalg_vector_norm", "max_pool2d", "avg_pool2d", "adaptive_max_pool2d", "topk", "sort",
        "argmax", "argsort", "where", "lt", "le", "ne", "logical_and", "logical_or", "min",
        "maximum", "minimum", "clamp_min", "clamp_max", "round", "ceil", "floor_", "fill_",
        "repeat", "repeat_interleave", "flip", "unfold", "pad", "pixel_shuffle", "new_ones",
        "ones_like", "empty_like", "scatter", "scatter_", "scatter_add", "index_select",
        "masked_select", "expand_as", "view_as", "reshape_as", "split_with_sizes", "tile",
        "dropout_", "feature_dropout", "feature_dropout_", "sin", "cos", "atan2", "zero_",
        "bernoulli_", "rand_like",
        "randn", "linspace", "meshgrid", "lift_fresh", "alias", "clone", "masked_fill_",
        "exponential_", "_unique2", "unique_dim", "unflatten", "log_sigmoid", "erf", "all", "any",
        "isinf", "isnan", "complex", "view_as_complex", "view_as_real",
        "nan_to_num", "frac", "numel", "dim", "item", "upsample_bicubic2d", "instance_norm_",
    )
)  # fmt: skip


@dataclass(frozen=True)
class FlopReport:
    macs: int  # fvcore units: the papers' "FLOPs"
    by_operator: dict[str, int]
    elementwise_skipped: dict[str, int]  # op -> number of calls, not counted (papers' convention)
    uncounted: dict[str, int]  # op -> number of calls, costly and without a handle
    params_total: int
    params_trainable: int
    by_module: dict[str, int] = field(default_factory=dict)  # of the modules asked for

    @property
    def flops(self) -> int:
        return 2 * self.macs


def _baddbmm_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """aten::baddbmm(self, batch1, batch2, ...): the batched product's multiply-adds."""
    b, n, k = inputs[1].type().sizes()
    m = inputs[2].type().sizes()[-1]
    return b * n * k * m


def _input_numel(inputs: list[Any], outputs: list[Any]) -> int:
    return prod(inputs[0].type().sizes())


def _copy(inputs: list[Any], outputs: list[Any]) -> int:
    return 0


# Costly ops fvcore has no handle for, priced like its own handles (matmul; adaptive_avg_pool2d:
# one per input element). im2col (F.unfold / nn.Unfold: Swin's PatchMerging in mmdet) only
# gathers patches, a copy with no multiply-adds; the Linear consuming them is counted as usual.
EXTRA_HANDLES: dict[str, Handle] = {
    "aten::baddbmm": _baddbmm_macs,
    "aten::baddbmm_": _baddbmm_macs,
    "aten::adaptive_avg_pool1d": _input_numel,
    "aten::im2col": _copy,
}


def count_params(model: nn.Module) -> tuple[int, int]:
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def count(
    model: nn.Module,
    inputs: tuple[Any, ...],
    handles: Mapping[str, Handle] | None = None,
    *,
    params_of: nn.Module | None = None,
    modules: list[str] | None = None,
) -> FlopReport:
    """fvcore count of `model(*inputs)` with extra op handles; params of `params_of or model`.

    `modules`: qualified names (in `model`) whose own totals are reported in `by_module`.
    """
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, inputs)
    for name, handle in {**EXTRA_HANDLES, **(handles or {})}.items():
        analysis.set_op_handle(name, handle)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        total = int(analysis.total())
        by_op = {k: int(v) for k, v in analysis.by_operator().items() if v}
        unsupported: Counter[str] = Counter(analysis.unsupported_ops())
        per_module = analysis.by_module() if modules else {}
    skipped = {k: v for k, v in unsupported.items() if k in NOT_COUNTED_BY_PAPERS}
    uncounted = {k: v for k, v in unsupported.items() if k not in NOT_COUNTED_BY_PAPERS}
    p_total, p_train = count_params(params_of or model)
    by_module = {name: int(per_module.get(name, 0)) for name in modules or ()}
    return FlopReport(total, by_op, skipped, uncounted, p_total, p_train, by_module)
