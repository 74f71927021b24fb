"""Layers several families share, with the module names their checkpoints use (fc1 / fc2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def gelu_fresh(x: Tensor) -> Tensor:
    """GELU of a tensor that nothing else holds (a layer's fresh output): in place in inference.

    Why: a new output the size of a large map is fresh memory, and first-touching it costs more
    than the GELU (27 vs 4 ms for 200x320x256 float32 on this 2-core CPU, the size of an MLP's
    hidden map at 800x1280). Same values (the same kernel). Under autograd, or a trace (which
    FLOP counting reads), the out-of-place op runs.
    """
    if torch.jit.is_tracing() or (torch.is_grad_enabled() and x.requires_grad):
        return F.gelu(x)
    return torch.ops.aten.gelu_(x)


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample while training."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        """Drop whole samples' residual branches while training (scaled by 1/keep)."""
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        """The drop probability, shown in the module's repr."""
        return f"drop_prob={self.drop_prob}"


class Mlp(nn.Module):
    """fc1 -> GELU -> dropout -> fc2 -> dropout (token MLP of Swin-style blocks)."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        """fc1 -> GELU -> dropout -> fc2 -> dropout, on the last dimension."""
        return self.drop(self.fc2(self.drop(gelu_fresh(self.fc1(x)))))


class ConvLayer(nn.Module):
    """Conv2d -> optional BatchNorm -> optional ReLU (keys `conv`, `norm`, as MLLA and
    Spatial-Mamba name them)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bias: bool = True,
        norm: bool = True,
        act: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=bias
        )
        self.norm = nn.BatchNorm2d(out_channels) if norm else None
        # in place: the norm's (or conv's) output is fresh, and a new one costs page faults
        self.act = nn.ReLU(inplace=True) if act else None

    def forward(self, x: Tensor) -> Tensor:
        """Convolution, then the optional norm and activation."""
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x


class ConvStem(nn.Module):
    """MLLA's stride-4 stem (Spatial-Mamba reuses it): two stride-2 conv stages with a residual
    3x3 pair between them. (B, C, H, W) -> (B, dim, ceil(H/4), ceil(W/4))."""

    def __init__(self, in_chans: int, dim: int) -> None:
        super().__init__()
        half = dim // 2
        self.conv1 = ConvLayer(in_chans, half, 3, stride=2, padding=1, bias=False)
        self.conv2 = nn.Sequential(
            ConvLayer(half, half, 3, padding=1, bias=False),
            ConvLayer(half, half, 3, padding=1, bias=False, act=False),
        )
        self.conv3 = nn.Sequential(
            ConvLayer(half, dim * 4, 3, stride=2, padding=1, bias=False),
            ConvLayer(dim * 4, dim, 1, bias=False, act=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Three convs, the second residual: (B, 3, H, W) -> (B, dim, H/4, W/4)."""
        x = self.conv1(x)
        x = self.conv2(x) + x
        return self.conv3(x)
