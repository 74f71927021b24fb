"""SparX-Mamba (Lou, Fu, Yu: "SparX: A Sparse Cross-Layer Connection Mechanism for Hierarchical
Vision Mamba and Transformer Networks", arXiv 2409.09649, AAAI 2025; code LMMMEng/SparX).

A hierarchical VMamba-v2-style network (SS2D with the 4-direction cross scan, d_state 1, a 5x5
depthwise conv before the scan, GroupNorm(1) everywhere) plus two additions:

- dynamic position encoding: every block first adds a 3x3 depthwise conv of its input;
- sparse cross-layer connections: in each stage a few "cross layers" (every `dense_step`-th block,
  counting back from the last one) receive, besides their input, the concatenated outputs of the
  blocks since the previous cross layer and of up to `max_dense_depth` earlier cross layers. That
  shortcut is projected to keys/values that meet the (strided) input in a channel attention
  (4 heads; tokens are channels, the embedding is the spatial map); input, attention result and
  values are channel-shuffled and projected into the SS2D's inner width.

The classifier and the detection backbone differ as the authors' two model files do: the detection
one normalises each stage output with LayerNorm2d(eps=1e-6) (`norm.{i}`) and learns the attention
scale of every cross layer (`op.scale`, initialised for 1333x800 inputs); the classifier uses
SDPA's default scale 1/sqrt(tokens of the strided map). The authors' mmseg file is the detection
network with the classifier's fixed scale (`learnable_attn_scale=False`, registered in mmseg).

The scan goes through `vzoo.kernels.cross_selective_scan` only: the per-direction projections,
the 4 scan orders (row-major, column-major, both reversed) and their merge (on a CPU in float32
one pass over the token-major map, elsewhere `cross_scan` / `selective_scan` / `cross_merge`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from vzoo.core.cards import Convention, FamilyCard, Preprocess
from vzoo.core.errors import UserInputError
from vzoo.kernels.cross_scan import cross_merge, cross_scan, cross_selective_scan
from vzoo.zoo.layers import DropPath, gelu_fresh
from vzoo.zoo.registration import register_backbone

CARD = FamilyCard(
    name="sparx-mamba",
    label="SparX-Mamba",
    module="vzoo.zoo.sparx_mamba",
    archs=("sparx-mamba-t", "sparx-mamba-s", "sparx-mamba-b"),
    sizes=("T", "S", "B"),
    # the authors' validate script: crop 0.9 (T) and 0.95 (S, B), bicubic
    preprocess={
        "sparx-mamba-t": Preprocess(crop_pct=0.9),
        "sparx-mamba-s": Preprocess(crop_pct=0.95),
        "sparx-mamba-b": Preprocess(crop_pct=0.95),
    },
    flops={
        "classification": Convention(
            name="sparx-cls",
            count_scan=True,
            sasf="none",
            params="total",
            bn_training=False,
            how=(
                "no counting script is released (VMamba-derived code): VMamba's fvcore count with "
                "the scan handle, eval mode, 224x224, assumed"
            ),
            source="LMMMEng/SparX@a59b4f4 (README only; VMamba analyze/get_flops.py lineage)",
        ),
    },
    registers=("sparx_mamba_t", "sparx_mamba_s", "sparx_mamba_b"),
    color="#0072B2",  # Okabe-Ito
    marker="o",
)


@dataclass(frozen=True)
class SparXMambaArch:
    """Hyper-parameters as the authors' `sparx_mamba_{t,s,b}` builders set them."""

    depths: tuple[int, int, int, int]
    dims: tuple[int, int, int, int]
    stem: str  # "v1": two stride-2 convs; "v2": an extra stride-1 conv between them
    dense_step: tuple[int, int, int, int]
    dense_start: tuple[int, int, int, int]
    max_dense_depth: tuple[int, int, int, int]
    cross_stage: tuple[bool, bool, bool, bool] = (False, False, False, False)
    sr_ratios: tuple[int, int, int, int] = (8, 4, 2, 1)
    ssm_d_state: int = 1
    ssm_ratio: float = 2.0
    ssm_conv: int = 5
    mlp_ratio: float = 4.0
    # LayerScale on the residual path (not the branch) in stages 3-4, initialised to 1.
    ls_init_value: tuple[float | None, ...] = (None, None, 1.0, 1.0)
    # timm eval transform of the released classifiers (bicubic resize, then centre crop).
    crop_pct: float = 0.9
    # Mask R-CNN configs: drop_path_rate of the backbone (1x and 3x use the same value).
    det_drop_path_rate: float = 0.2
    # Upstream README (ImageNet-1K table): params (M) and FLOPs (G) at 224², as printed.
    published_params_m: float = 0.0
    published_flops_g: float = 0.0

    def cross_layer_indices(self, stage: int) -> list[int]:
        """Blocks of `stage` that are cross layers: every `dense_step`-th, counted from the end."""
        step, start = self.dense_step[stage], self.dense_start[stage]
        return sorted(range(self.depths[stage] - 1, start - 1, -step))


ARCHS: dict[str, SparXMambaArch] = {
    "sparx-mamba-t": SparXMambaArch(
        depths=(2, 2, 7, 2),
        dims=(96, 192, 320, 512),
        stem="v1",
        dense_step=(1, 1, 2, 1),
        dense_start=(100, 1, 0, 0),
        max_dense_depth=(100, 100, 3, 100),
        crop_pct=0.9,
        det_drop_path_rate=0.2,
        published_params_m=25,
        published_flops_g=5.2,
    ),
    "sparx-mamba-s": SparXMambaArch(
        depths=(2, 2, 17, 2),
        dims=(96, 192, 328, 544),
        stem="v2",
        dense_step=(1, 1, 3, 1),
        dense_start=(100, 1, 0, 0),
        max_dense_depth=(100, 100, 3, 100),
        crop_pct=0.95,
        det_drop_path_rate=0.3,
        published_params_m=47,
        published_flops_g=9.3,
    ),
    "sparx-mamba-b": SparXMambaArch(
        depths=(2, 2, 21, 3),
        dims=(120, 240, 396, 636),
        stem="v2",
        dense_step=(1, 1, 3, 2),
        dense_start=(100, 1, 0, 2),
        max_dense_depth=(100, 100, 3, 100),
        crop_pct=0.95,
        det_drop_path_rate=0.45,
        published_params_m=84,
        published_flops_g=15.9,
    ),
}


def _at_least_float32(t: Tensor) -> Tensor:
    """The authors' `.float()` casts, without ever downcasting float64."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


# ---------------------------------------------------------------------------------------------
# small layers
# ---------------------------------------------------------------------------------------------
class GroupNorm1(nn.GroupNorm):
    """GroupNorm with one group: normalises over (C, H, W) per sample, affine per channel."""

    def __init__(self, num_channels: int, eps: float = 1e-5) -> None:
        super().__init__(num_groups=1, num_channels=num_channels, eps=eps)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map."""

    def forward(self, x: Tensor) -> Tensor:
        """LayerNorm over the channels of an NCHW map."""
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()


class LayerScale(nn.Module):
    """Per-channel affine `x * w + b`, stored as a depthwise 1x1 conv kernel (dim, 1, 1, 1)."""

    def __init__(self, dim: int, init_value: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((dim, 1, 1, 1), float(init_value)))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: Tensor) -> Tensor:
        """Per-channel scale and shift of an NCHW map."""
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class ConvMlp(nn.Module):
    """1x1 expand, a residual 3x3 depthwise conv, GELU, 1x1 project."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        """1x1 conv, + depthwise conv, GELU, 1x1 conv (NCHW)."""
        x = self.fc1(x)
        return self.fc2(gelu_fresh(x + self.dwconv(x)))


def _strided_dwconv(dim: int, sr_ratio: int) -> nn.Module:
    """The spatial reduction in front of q and k: depthwise conv (k=sr+1, stride sr), BN, GELU."""
    if sr_ratio <= 1:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(
            dim, dim, sr_ratio + 1, stride=sr_ratio, padding=(sr_ratio + 1) // 2, groups=dim,
            bias=False,
        ),
        nn.BatchNorm2d(dim),
        nn.GELU(),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# SS2D with the optional cross-layer input
# ---------------------------------------------------------------------------------------------
class SparXSS2D(nn.Module):
    """VMamba-v2 SS2D (k=4 directions, merged x/dt projections); a cross layer replaces the 1x1
    input projection by the cross-layer channel attention described in the module docstring."""

    K = 4

    def __init__(
        self,
        dim: int,
        d_state: int = 1,
        ssm_ratio: float = 2.0,
        d_conv: int = 5,
        shortcut_dim: int | None = None,
        sr_ratio: int = 1,
        learnable_scale: bool = False,
    ) -> None:
        super().__init__()
        d_inner = int(dim * ssm_ratio)
        dt_rank = math.ceil(dim / 16)
        self.d_inner, self.d_state, self.dt_rank, self.d_conv = d_inner, d_state, dt_rank, d_conv
        self.is_cross_layer = shortcut_dim is not None
        if shortcut_dim is None:
            self.in_proj: nn.Module = nn.Conv2d(dim, d_inner, 1)
        else:
            self.d_norm = GroupNorm1(shortcut_dim)
            self.d_proj = nn.Sequential(
                nn.Conv2d(
                    shortcut_dim, shortcut_dim, 3, padding=1, groups=shortcut_dim, bias=False
                ),
                nn.BatchNorm2d(shortcut_dim),
                nn.GELU(),
                nn.Conv2d(shortcut_dim, 2 * dim, 1),
                nn.GELU(),
            )
            self.q = nn.Sequential(
                _strided_dwconv(dim, sr_ratio), nn.Conv2d(dim, dim, 1, bias=False),
                nn.BatchNorm2d(dim),
            )  # fmt: skip
            self.k = nn.Sequential(
                _strided_dwconv(dim, sr_ratio), nn.Conv2d(dim, dim, 1, bias=False),
                nn.BatchNorm2d(dim),
            )  # fmt: skip
            self.v = nn.Sequential(nn.Conv2d(dim, dim, 1, bias=False), nn.BatchNorm2d(dim))
            if learnable_scale:
                # detection: the attention scale is learned, starting from what 1333x800 gives
                self.scale = nn.Parameter(torch.full((1,), (800 * 1333 / 16 / 64) ** -0.5))
            # the grouped projection yields a multiple of 3 channels; the rest is pooled in
            self.channel_padding = d_inner - d_inner // 3 * 3
            self.in_proj = nn.Sequential(
                nn.Conv2d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim),
                nn.GELU(),
                nn.Conv2d(3 * dim, d_inner // 3 * 3, 1, groups=3),
            )
        if d_conv > 1:
            self.conv2d = nn.Conv2d(d_inner, d_inner, d_conv, padding=(d_conv - 1) // 2,
                                    groups=d_inner)  # fmt: skip
        self.act = nn.SiLU()
        self.out_norm = GroupNorm1(d_inner)
        self.out_proj = nn.Conv2d(d_inner, dim, 1)

        k = self.K
        self.x_proj_weight = nn.Parameter(torch.empty(k * (dt_rank + 2 * d_state), d_inner, 1))
        self.dt_projs_weight = nn.Parameter(torch.empty(k, d_inner, dt_rank))
        self.dt_projs_bias = nn.Parameter(torch.empty(k, d_inner))
        self.A_logs = nn.Parameter(torch.empty(k * d_inner, d_state))
        self.Ds = nn.Parameter(torch.ones(k * d_inner))
        self._init_ssm_parameters()

    @torch.no_grad()
    def _init_ssm_parameters(self, dt_min: float = 1e-3, dt_max: float = 0.1) -> None:
        """Mamba's init ("v0"): S4D-real A, dt bias = softplus^-1 of a log-uniform dt."""
        bound = self.d_inner**-0.5  # nn.Linear's default init of the x projections
        self.x_proj_weight.uniform_(-bound, bound)
        std = self.dt_rank**-0.5
        self.dt_projs_weight.uniform_(-std, std)
        dt = torch.exp(
            torch.rand(self.K, self.d_inner) * (math.log(dt_max) - math.log(dt_min))
            + math.log(dt_min)
        ).clamp(min=1e-4)
        self.dt_projs_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        a = torch.arange(1, self.d_state + 1, dtype=torch.float32)
        self.A_logs.copy_(torch.log(a).expand_as(self.A_logs))
        self.Ds.fill_(1.0)

    def attention_scale(self, tokens: int) -> Tensor | float:
        """The attention's scale: the learned one where the arch has it, else tokens**-0.5."""
        return self.scale if hasattr(self, "scale") else tokens**-0.5

    def cross_layer_input(self, x: Tensor, shortcut: Tensor) -> Tensor:
        """The cross-layer replacement of `in_proj`: (B, dim, H, W) -> (B, d_inner, H, W)."""
        b, c, h, w = x.shape
        k, v = self.d_proj(self.d_norm(shortcut)).chunk(2, dim=1)
        q, k, v = self.q(x), self.k(k), self.v(v)
        sr_h, sr_w = q.shape[2:]
        heads = 4
        # channel attention per head: c/4 channel tokens, each embedded by its strided map
        qh = q.reshape(b * heads, c // heads, sr_h * sr_w)
        kh = k.reshape(b * heads, c // heads, sr_h * sr_w)
        vh = v.reshape(b * heads, c // heads, h * w)
        logits = qh @ kh.transpose(1, 2) * self.attention_scale(sr_h * sr_w)
        attn = (logits.softmax(dim=-1) @ vh).reshape(b, c, h, w)
        if (sr_h, sr_w) == (h, w):  # no reduction happened: the projected query stands for x
            x = q
        # the authors' channel shuffle of cat(x, attn, v): "b (c g) h w -> b (g c) h w", g=3
        y = torch.cat((x, attn, v), dim=1).view(b, c, 3, h, w).transpose(1, 2)
        y = self.in_proj(y.reshape(b, 3 * c, h, w))
        if self.channel_padding == 1:
            y = torch.cat((y, y.mean(dim=1, keepdim=True)), dim=1)
        elif self.channel_padding > 1:
            pooled = F.adaptive_avg_pool1d(y.flatten(2).transpose(1, 2), self.channel_padding)
            y = torch.cat((y, pooled.transpose(1, 2).reshape(b, -1, h, w)), dim=1)
        return y

    def forward_ssm(self, x: Tensor) -> Tensor:
        """The 4-direction selective scan of a (B, D, H, W) map, merged back, normed."""
        k, n, r, d = self.K, self.d_state, self.dt_rank, self.d_inner
        y = cross_selective_scan(
            x,
            self.x_proj_weight.view(k, r + 2 * n, d),
            self.dt_projs_weight,
            -torch.exp(_at_least_float32(self.A_logs)),
            _at_least_float32(self.Ds),
            _at_least_float32(self.dt_projs_bias.reshape(-1)),
        )
        return self.out_norm(y)

    def forward(self, x: Tensor, shortcut: Tensor | None = None) -> Tensor:
        """The SS2D mixer; a cross layer also mixes in the earlier layers' `shortcut`."""
        if self.is_cross_layer:
            if shortcut is None:
                raise ValueError("SparXSS2D: a cross layer needs the cross-layer shortcut input")
            x = self.cross_layer_input(x, shortcut)
        else:
            x = self.in_proj(x)
        if self.d_conv > 1:
            x = self.conv2d(x)
        return self.out_proj(self.forward_ssm(self.act(x)))


class SparXBlock(nn.Module):
    """x += dwconv3x3(x); x = ls1(x) + SS2D(norm(x), shortcut); x = ls2(x) + MLP(norm2(x))."""

    def __init__(
        self,
        dim: int,
        arch: SparXMambaArch,
        stage: int,
        drop_path: float = 0.0,
        shortcut_dim: int | None = None,
        learnable_scale: bool = False,
    ) -> None:
        super().__init__()
        self.pos_embed = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm = GroupNorm1(dim)
        self.op = SparXSS2D(
            dim,
            d_state=arch.ssm_d_state,
            ssm_ratio=arch.ssm_ratio,
            d_conv=arch.ssm_conv,
            shortcut_dim=shortcut_dim,
            sr_ratio=arch.sr_ratios[stage],
            learnable_scale=learnable_scale,
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = GroupNorm1(dim)
        self.mlp = ConvMlp(dim, int(dim * arch.mlp_ratio))
        ls = arch.ls_init_value[stage]
        self.layerscale_1: nn.Module = LayerScale(dim, ls) if ls is not None else nn.Identity()
        self.layerscale_2: nn.Module = LayerScale(dim, ls) if ls is not None else nn.Identity()

    def forward(self, x: Tensor, shortcut: Tensor | None = None) -> Tensor:
        """Positional conv, the mixer and the MLP, each a layer-scaled residual."""
        x = x + self.pos_embed(x)
        x = self.layerscale_1(x) + self.drop_path(self.op(self.norm(x), shortcut))
        return self.layerscale_2(x) + self.drop_path(self.mlp(self.norm2(x)))


class SparXStage(nn.Module):
    """The blocks of one stage and the downsampling that follows it; runs the sparse
    cross-layer bookkeeping."""

    def __init__(
        self,
        arch: SparXMambaArch,
        stage: int,
        drop_paths: Sequence[float],
        learnable_scale: bool = False,
    ) -> None:
        super().__init__()
        dim = arch.dims[stage]
        self.cross_layers = arch.cross_layer_indices(stage)
        self.max_dense_depth = arch.max_dense_depth[stage]
        self.cross_stage = arch.cross_stage[stage]
        blocks = []
        for i in range(arch.depths[stage]):
            blocks.append(
                SparXBlock(
                    dim, arch, stage, drop_paths[i],
                    shortcut_dim=self._shortcut_inputs(i, arch.dense_step[stage]) * dim
                    if i in self.cross_layers else None,
                    learnable_scale=learnable_scale,
                )
            )  # fmt: skip
        self.blocks = nn.ModuleList(blocks)
        last = stage == len(arch.dims) - 1
        self.downsample: nn.Module = (
            nn.Identity()
            if last
            else nn.Sequential(
                nn.Conv2d(dim, arch.dims[stage + 1], 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(arch.dims[stage + 1]),
            )
        )

    def _shortcut_inputs(self, block: int, dense_step: int) -> int:
        """How many dim-wide maps the cross layer `block` receives (what `forward` collects)."""
        rank = self.cross_layers.index(block)
        if rank == 0:
            # the stage input (when not a cross-stage link) and every block before it
            return block + 1
        earlier_cross = min(self.max_dense_depth, rank + (1 if self.cross_stage else 0))
        return earlier_cross + dense_step - 1

    def forward(self, x: Tensor, stage_input: Tensor | None) -> Tensor:
        """The stage's blocks, cross layers fed with the outputs they connect to."""
        since_last_cross: list[Tensor] = []  # plain-block outputs since the last cross layer
        cross_outputs: list[Tensor] = []  # outputs of the recent cross layers
        if stage_input is not None:
            (cross_outputs if self.cross_stage else since_last_cross).append(stage_input)
        for i, block in enumerate(self.blocks):
            if i in self.cross_layers:
                x = block(x, torch.cat(since_last_cross + cross_outputs, dim=1))
                cross_outputs.append(x)
                since_last_cross = []
            else:
                x = block(x)
                since_last_cross.append(x)
            if len(cross_outputs) > self.max_dense_depth:
                cross_outputs = cross_outputs[-self.max_dense_depth :]
        return x


# ---------------------------------------------------------------------------------------------
# classifier and detection backbone
# ---------------------------------------------------------------------------------------------
def _resolve(arch: str | SparXMambaArch) -> SparXMambaArch:
    if isinstance(arch, SparXMambaArch):
        return arch
    key = arch if arch.startswith("sparx-mamba-") else f"sparx-mamba-{arch}"
    if key not in ARCHS:
        raise UserInputError(
            f"unknown SparX-Mamba variant '{arch}' (known: {', '.join(sorted(ARCHS))})"
        )
    return ARCHS[key]


def _imagenet_url(arch: SparXMambaArch) -> str:
    """The ImageNet-1K release a detection config starts from (`pretrained=True`): the URL of the
    classifier row (whose id is the arch id) in the registry, the one source of URLs."""
    from vzoo.core.registry import load_registry

    arch_id = next(k for k, v in ARCHS.items() if v == arch)
    weights = load_registry().get(arch_id).weights
    if weights is None:
        raise UserInputError(f"{arch_id}: the registry lists no ImageNet weights")
    return weights.urls[0]


def _stem(arch: SparXMambaArch, in_chans: int) -> nn.Sequential:
    c = arch.dims[0]
    layers: list[nn.Module] = [
        nn.Conv2d(in_chans, c // 2, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(c // 2),
        nn.GELU(),
    ]
    if arch.stem == "v2":
        layers += [nn.Conv2d(c // 2, c // 2, 3, padding=1, bias=False), nn.BatchNorm2d(c // 2),
                   nn.GELU()]  # fmt: skip
    layers += [nn.Conv2d(c // 2, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c)]
    return nn.Sequential(*layers)


def _init_weights(m: nn.Module) -> None:
    """The authors' init: truncated normal (std .02) for convs/linears, unit norms."""
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def _channels_last(x: Tensor) -> Tensor:
    """The network runs channels-last: oneDNN's depthwise and 1x1 convolutions (most of its
    work) are 1.3-3x faster on NHWC than on NCHW here (8x224: the forward 17% faster); the scan
    path gathers its NCHW sequences once (`forward_ssm`)."""
    return x.contiguous(memory_format=torch.channels_last)


class _SparXTrunk(nn.Module):
    """Stem and the four stages; `stages()` yields each stage's output before downsampling."""

    def __init__(
        self,
        arch: SparXMambaArch,
        in_chans: int = 3,
        drop_path_rate: float = 0.0,
        learnable_scale: bool = False,
    ) -> None:
        super().__init__()
        self.arch = arch
        dpr = torch.linspace(0, drop_path_rate, sum(arch.depths), device="cpu").tolist()
        self.patch_embed = _stem(arch, in_chans)
        self.layers = nn.ModuleList()
        start = 0
        for i, depth in enumerate(arch.depths):
            self.layers.append(SparXStage(arch, i, dpr[start : start + depth], learnable_scale))
            start += depth

    def stages(self, x: Tensor) -> list[Tensor]:
        x = self.patch_embed(_channels_last(x))
        outs, stage_input = [], None
        for stage in self.layers:
            x = stage(x, stage_input)
            outs.append(x)
            x = stage_input = stage.downsample(x)
        return outs


class SparXMamba(_SparXTrunk):
    """ImageNet classifier: (B, 3, H, W) -> (B, num_classes); head GroupNorm, avg-pool, linear."""

    def __init__(
        self,
        arch: str | SparXMambaArch = "t",
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_path_rate: float = 0.0,
    ) -> None:
        a = _resolve(arch)
        super().__init__(a, in_chans, drop_path_rate, learnable_scale=False)
        self.num_features = a.dims[-1]
        self.classifier = nn.Sequential(
            GroupNorm1(self.num_features),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(1),
            nn.Linear(self.num_features, num_classes),
        )
        self.apply(_init_weights)

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's map."""
        return self.stages(x)[-1]

    def forward(self, x: Tensor) -> Tensor:
        """ImageNet logits (B, 1000)."""
        return self.classifier(self.forward_features(x))


class SparXMambaBackbone(BaseModule):
    """Dense-prediction backbone as the authors' mmdet file builds it: 4 NCHW maps, each through
    LayerNorm2d(eps=1e-6), learnable cross-layer attention scales (`op.scale`). Their mmseg file
    is the same network with the classifier's fixed scale: `learnable_attn_scale=False`.

    `pretrained=True` (the authors' config) means "start from the ImageNet release": unlike the
    authors' builder it does not download at construction; it becomes an mmengine `Pretrained`
    init_cfg applied by `init_weights()` (what the training runner calls), non-strict like theirs.
    """

    def __init__(
        self,
        arch: str | SparXMambaArch = "t",
        pretrained: bool | str = False,
        drop_path_rate: float = 0.0,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        in_chans: int = 3,
        init_cfg: dict[str, Any] | None = None,
        learnable_attn_scale: bool = True,
    ) -> None:
        a = _resolve(arch)
        if pretrained and init_cfg is None:
            variants = [k[-1] for k, v in ARCHS.items() if v == a]
            if not isinstance(pretrained, str) and not variants:
                raise UserInputError("pretrained=True needs a released variant (t, s or b)")
            url = pretrained if isinstance(pretrained, str) else _imagenet_url(a)
            init_cfg = dict(type="Pretrained", checkpoint=url)
        super().__init__(init_cfg=init_cfg)
        self.out_indices = tuple(out_indices)
        bad = [i for i in self.out_indices if not 0 <= i < 4]
        if bad:
            raise UserInputError(f"SparX-Mamba out_indices must be within 0..3, got {bad}")
        trunk = _SparXTrunk(a, in_chans, drop_path_rate, learnable_scale=learnable_attn_scale)
        # flat attributes so the keys are `patch_embed.*`, `layers.*`, `norm.*` as upstream
        self.arch = a
        self.patch_embed = trunk.patch_embed
        self.layers = trunk.layers
        self.norm = nn.ModuleList(LayerNorm2d(d, eps=1e-6) for d in a.dims)
        self.apply(_init_weights)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Four normed NCHW maps at strides 4, 8, 16, 32."""
        x = self.patch_embed(_channels_last(x))
        outs: list[Tensor] = []
        stage_input = None
        for i, stage in enumerate(self.layers):
            x = stage(x, stage_input)
            if i in self.out_indices:
                outs.append(self.norm[i](x))
            x = stage_input = stage.downsample(x)
        return tuple(outs)


# ---------------------------------------------------------------------------------------------
# builders and registration
# ---------------------------------------------------------------------------------------------
def build_classifier(arch_id: str, **kwargs: Any) -> SparXMamba:
    """A SparX-Mamba classifier of `arch_id`; `kwargs` override its construction."""
    return SparXMamba(_resolve(arch_id), **kwargs)


def build_backbone(arch_id: str, **overrides: Any) -> SparXMambaBackbone:
    """A SparX-Mamba detection backbone of `arch_id` (the detection drop-path rate unless
    overridden).
    """
    a = _resolve(arch_id)
    cfg: dict[str, Any] = {"drop_path_rate": a.det_drop_path_rate, **overrides}
    return SparXMambaBackbone(a, **cfg)


def _variant_builder(variant: str, learnable_attn_scale: bool) -> Any:
    """The authors' `sparx_mamba_{t,s,b}(pretrained=False, **kwargs)` config entry points."""

    def build(pretrained: bool | str = False, **kwargs: Any) -> SparXMambaBackbone:
        kwargs.setdefault("learnable_attn_scale", learnable_attn_scale)
        return SparXMambaBackbone(variant, pretrained=pretrained, **kwargs)

    build.__name__ = build.__qualname__ = f"sparx_mamba_{variant}"
    return build


def _register() -> None:
    """Register the authors' type names `sparx_mamba_{t,s,b}`: in mmdet's MODELS the detection
    variant (learned attention scale), in mmseg's the segmentation one (fixed scale), as their
    two files do. Either library may be missing."""
    for library, learnable in (("mmdet", True), ("mmseg", False)):
        for variant in ("t", "s", "b"):
            fn = _variant_builder(variant, learnable)
            register_backbone(fn.__name__, fn, libraries=(library,))


_register()

__all__ = [
    "ARCHS",
    "SparXBlock",
    "SparXMamba",
    "SparXMambaArch",
    "SparXMambaBackbone",
    "SparXSS2D",
    "SparXStage",
    "build_backbone",
    "build_classifier",
    "cross_merge",
    "cross_scan",
]
