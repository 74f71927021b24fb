"""The mmcv 1.x module-hook FLOPs counter (`mmcv.cnn.get_model_complexity_info`), re-implemented.

mmdet 2.x repos (MLLA's detection code) counted with it: a forward hook on modules of an exact
type (no subclasses): conv (MACs + one add per output element for the bias), linear (MACs, no
bias), norms (1 per element, 2 with affine), pools (1 per input element), ReLU-family activations
(1 per output element), nn.Upsample (1 per output element), transposed conv. Everything done by
functions (matmul, F.interpolate, attention products, GELU, RoIAlign) is NOT counted. Params:
trainable only. mmcv 2 dropped this counter, so vzoo carries the rules (from mmcv 1.7's
mmcv/cnn/utils/flops_counter.py, read, not copied).
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import Any

import torch
from torch import nn

HookCost = Callable[[nn.Module, torch.Tensor, torch.Tensor], int]


def _conv(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    per_position = prod(m.kernel_size) * m.in_channels * (m.out_channels // m.groups)
    positions = x.shape[0] * prod(y.shape[2:])
    bias = m.out_channels * positions if m.bias is not None else 0
    return per_position * positions + bias


def _deconv(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    per_position = prod(m.kernel_size) * m.in_channels * (m.out_channels // m.groups)
    positions = x.shape[0] * prod(x.shape[2:])
    # mmcv 1.x multiplies output_height by itself here (a bug the published figures carry)
    bias = m.out_channels * x.shape[0] * y.shape[2] * y.shape[2] if m.bias is not None else 0
    return per_position * positions + bias


def _linear(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    return x.numel() * y.shape[-1]


def _norm(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    affine = getattr(m, "affine", False) or getattr(m, "elementwise_affine", False)
    return x.numel() * (2 if affine else 1)


def _per_input(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    return x.numel()


def _per_output(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    return y.numel()


def _mapping() -> dict[type, HookCost]:
    table: dict[type, HookCost] = {}
    for t in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
        table[t] = _conv
    for t in (nn.ReLU, nn.PReLU, nn.ELU, nn.LeakyReLU, nn.ReLU6, nn.Upsample):
        table[t] = _per_output
    pools = (
        nn.MaxPool1d, nn.AvgPool1d, nn.MaxPool2d, nn.AvgPool2d, nn.MaxPool3d, nn.AvgPool3d,
        nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d,
        nn.AdaptiveMaxPool3d, nn.AdaptiveAvgPool3d,
    )  # fmt: skip
    for t in pools:
        table[t] = _per_input
    norms = (
        nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.InstanceNorm1d,
        nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LayerNorm,
    )  # fmt: skip
    for t in norms:
        table[t] = _norm
    table[nn.Linear] = _linear
    table[nn.ConvTranspose2d] = _deconv
    try:  # mmcv's thin wrappers (empty-tensor support) are listed explicitly in mmcv 1.x too
        from mmcv.cnn.bricks import wrappers

        for name, cost in (("Conv2d", _conv), ("Conv3d", _conv), ("ConvTranspose2d", _deconv),
                           ("MaxPool2d", _per_input), ("MaxPool3d", _per_input),
                           ("Linear", _linear)):  # fmt: skip
            if hasattr(wrappers, name):
                table[getattr(wrappers, name)] = cost
    except ImportError:
        pass
    return table


def hook_count(model: nn.Module, inputs: tuple[Any, ...]) -> tuple[int, dict[str, int]]:
    """Run `model(*inputs)` once; returns (total, by module type) as mmcv 1.x would count it."""
    table = _mapping()
    by_type: dict[str, int] = {}
    handles = []

    def hook(m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        x = args[0] if args else None
        y = out[0] if isinstance(out, tuple) else out
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            return
        name = type(m).__name__
        by_type[name] = by_type.get(name, 0) + int(table[type(m)](m, x, y))

    for m in model.modules():
        if type(m) in table:  # exact type, as mmcv 1.x does
            handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return sum(by_type.values()), by_type
