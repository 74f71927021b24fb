"""Spatial-Mamba (Xiao et al., 2024): a single-scan selective SSM whose hidden states are fused
over the 2-D image grid by dilated depthwise convolutions (structure-aware state fusion, SASF).

Layer math of one SSM block (d_state = 1, as in every released config), x: (B, D, H, W):
  dt, B_t, C_t = x_proj(x)              per-pixel, raster order t = i * W + j
  h_t = exp(softplus(dt_proj(dt) + b) * A) h_{t-1} + softplus(...) * B_t * x_t   (one raster scan)
  h' = SASF(h) = sum_k alpha_k * dwconv3x3_{dilation 1,3,5}(replicate_pad(h))
  y_t = C_t * h'_t + D * x_t

`state_dict()` keys equal the authors' checkpoints (EdwardChasel/Spatial-Mamba,
classification/models/spatialmamba.py); the detection/segmentation backbone is registered as
`MM_SpatialMamba` in mmdet's and mmseg's MODELS, as their configs name it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils import checkpoint as activation_checkpoint

from vzoo.core.cards import Convention, FamilyCard
from vzoo.core.errors import UserInputError
from vzoo.kernels import selective_scan_states_tokens, state_fusion_numba
from vzoo.zoo.checkpoint import CheckpointMismatchError
from vzoo.zoo.layers import ConvLayer, ConvStem, DropPath, Mlp
from vzoo.zoo.registration import register_backbone

_SM_SEG_SCRIPT = "EdwardChasel/Spatial-Mamba@71221eb segmentation/tools/analysis_tools/get_flops.py"
# The released det/seg get_flops.py scripts (mmengine get_model_complexity_info, eval mode, no
# custom handles) would skip the scan and the state fusion (autograd Functions, i.e.
# prim::PythonOp): measured 0.2-1.0% below every published figure. The published figures are
# reproduced (<= 0.2%) only when both ARE counted, the fusion at its 27 taps (a training-mode
# trace with the scan handle, like the classifier's flops()); row notes give both numbers.
CARD = FamilyCard(
    name="spatial-mamba",
    label="Spatial-Mamba",
    module="vzoo.zoo.spatial_mamba",
    archs=("spatial-mamba-t", "spatial-mamba-s", "spatial-mamba-b"),
    sizes=("T", "S", "B"),
    # VMamba-derived config: bicubic, TEST.CROP True: the default transform
    flops={
        "classification": Convention(
            name="spatial-mamba-cls",
            count_scan=True,
            sasf="taps",
            params="total",
            bn_training=True,
            how=(
                "fvcore flop_count with the state-scan handle (7*B*L*D*N) on the "
                "freshly built model, "
                "which is in TRAINING mode (`model.cuda()#.eval()`), so the state "
                "fusion runs as three "
                "dilated 3x3 depthwise convs (27 MACs/element) and BatchNorm is priced at 5/element"
            ),
            source=(
                "EdwardChasel/Spatial-Mamba@71221eb classification/models/spatialmamba.py flops()"
            ),
        ),
        "detection": Convention(
            name="spatial-mamba-det",
            count_scan=True,
            sasf="taps",
            params="total",
            bn_training=False,
            how=(
                "fvcore units on the detector's tensor forward at (1, 3, 1280, 800) (bbox head on "
                "1000 RoIs, mask head on 100) WITH the state scan (7*B*L*D*N) and the state fusion "
                "at 27 MACs/element: this reproduces every published figure to <= 0.2%, while the "
                "released get_flops.py as written (mmengine, eval mode, no handles: "
                "scan and fusion "
                "skipped as prim::PythonOp) gives 0.7-1.0% less (the 'released script' column)"
            ),
            source="EdwardChasel/Spatial-Mamba@71221eb detection/tools/analysis_tools/get_flops.py",
            script=Convention(
                name="released-script",
                count_scan=False,
                sasf="none",
                params="total",
                bn_training=False,
                how="mmengine get_model_complexity_info, eval mode, no handles",
                source=(
                    "EdwardChasel/Spatial-Mamba@71221eb detection/tools/analysis_tools/get_flops.py"
                ),
            ),
        ),
        "segmentation": Convention(
            name="spatial-mamba-seg",
            count_scan=True,
            sasf="taps",
            params="total",
            bn_training=False,
            how=(
                "fvcore units on the segmentor's whole-image forward at 512x2048 (the script's "
                "2048x512 gives the same count) WITH the state scan and the 27-tap state fusion, "
                "params WITH the auxiliary FCN head: reproduces every published figure (FLOPs "
                "<= 0.03%); the released get_flops.py as written (scan and fusion skipped, "
                "auxiliary_head=None) gives 0.2-0.3% fewer FLOPs and 0.6-0.9 M fewer params (the "
                "'released script' column)"
            ),
            source=_SM_SEG_SCRIPT,
            script=Convention(
                name="released-script",
                count_scan=False,
                sasf="none",
                params="without-aux-head",
                bn_training=False,
                how=(
                    "mmengine get_model_complexity_info, eval mode, no handles, auxiliary_head=None"
                ),
                source=_SM_SEG_SCRIPT,
            ),
        ),
    },
    state_fusion=("vzoo.zoo.spatial_mamba.StateFusion",),
    registers=("MM_SpatialMamba",),
    color="#CC79A7",  # Okabe-Ito
    marker="D",
)


@dataclass(frozen=True)
class SpatialMambaArch:
    """Hyper-parameters of one variant, as classification/configs/spatialmamba/*.yaml set them
    (the detection/segmentation configs repeat dims, depths and drop_path_rate unchanged)."""

    depths: tuple[int, int, int, int]
    dims: int
    drop_path_rate: float
    d_state: int = 1
    mlp_ratio: float = 4.0


ARCHS: dict[str, SpatialMambaArch] = {
    "spatial-mamba-t": SpatialMambaArch(depths=(2, 4, 8, 4), dims=64, drop_path_rate=0.2),
    "spatial-mamba-s": SpatialMambaArch(depths=(2, 4, 21, 5), dims=64, drop_path_rate=0.3),
    "spatial-mamba-b": SpatialMambaArch(depths=(2, 4, 21, 5), dims=96, drop_path_rate=0.5),
}

# Swin-base keys the authors' detection / segmentation configs merge into the backbone dict
# (they inherit the Swin configs without `_delete_`); SpatialMamba(**kwargs) ignores them.
_IGNORED_SWIN_KWARGS = frozenset(
    {
        "embed_dims", "num_heads", "window_size", "qkv_bias", "qk_scale", "with_cp",
        "convert_weights", "patch_norm", "init_cfg", "pretrain_img_size", "strides",
        "use_abs_pos_embed", "act_cfg", "norm_cfg", "img_size", "ape",
    }
)  # fmt: skip


def _at_least_float32_dtype(t: Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32)


# --------------------------------------------------------------------------------------------
# Structure-aware state fusion
# --------------------------------------------------------------------------------------------

SASF_DILATIONS: tuple[int, int, int] = (1, 3, 5)
SASF_RADIUS = max(SASF_DILATIONS)  # the merged kernel is 11x11


def structure_aware_state_fusion(
    h: Tensor, kernel_d1: Tensor, kernel_d3: Tensor, kernel_d5: Tensor, alpha: Tensor
) -> Tensor:
    """SASF: sum_k alpha[k] * depthwise 3x3 cross-correlation of h with dilation 1/3/5.

    h: (B, C, H, W); kernels: (C, 1, 3, 3); alpha: (3,). Borders are REPLICATE-padded (the
    authors' dwconv2d CUDA kernel clamps indices; their training path pads with
    mode='replicate'), the output has h's spatial size. Computed as their eval path does: one
    alpha-weighted 11x11 depthwise kernel (`merged_sasf_kernel`, 27 non-zero taps of 121) on a
    map padded by 5, which on CPU is 2-4x faster than three dilated convolutions (measured).
    float32 CPU inference runs only the kernel's 25 distinct taps instead
    (`kernels/state_fusion_numba.py`: 1.1-7x faster than the dense kernel, most at the large
    maps of detection). Computes in at least float32 (their kernel is float32-only) and keeps
    float64.
    """
    ct = torch.promote_types(_at_least_float32_dtype(h), kernel_d1.dtype)
    r = SASF_RADIUS
    weight = merged_sasf_kernel(kernel_d1.to(ct), kernel_d3.to(ct), kernel_d5.to(ct), alpha.to(ct))
    if state_fusion_numba.applicable(h, weight):
        return state_fusion_numba.fuse(h, weight)
    padded = F.pad(h.to(ct), (r, r, r, r), mode="replicate")
    return F.conv2d(padded, weight, groups=h.shape[1])


def merged_sasf_kernel(
    kernel_d1: Tensor, kernel_d3: Tensor, kernel_d5: Tensor, alpha: Tensor
) -> Tensor:
    """The three dilated 3x3 kernels, alpha-weighted, as one (C, 1, 11, 11) kernel (the
    authors' eval-time weight): taps at offsets dil * {-1, 0, 1} around the centre."""
    kernels = (kernel_d1, kernel_d3, kernel_d5)
    size = 2 * SASF_RADIUS + 1
    merged = kernel_d1.new_zeros(kernel_d1.shape[0], 1, size, size)
    for k, (kernel, dil) in enumerate(zip(kernels, SASF_DILATIONS, strict=True)):
        lo, hi = SASF_RADIUS - dil, SASF_RADIUS + dil + 1
        merged[:, :, lo:hi:dil, lo:hi:dil] += alpha[k] * kernel
    return merged


class StateFusion(nn.Module):
    """Parameters of SASF, named as in the checkpoints (kernel_3, kernel_3_1, kernel_3_2, alpha)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.kernel_3 = nn.Parameter(torch.ones(dim, 1, 3, 3))
        self.kernel_3_1 = nn.Parameter(torch.ones(dim, 1, 3, 3))
        self.kernel_3_2 = nn.Parameter(torch.ones(dim, 1, 3, 3))
        self.alpha = nn.Parameter(torch.ones(3))

    def forward(self, h: Tensor) -> Tensor:
        # No cached merged kernel (the authors cache one on the first eval forward, which goes
        # stale if weights are loaded afterwards): the fusion always uses the current weights.
        """Fuse the scan's hidden states (B, C, H, W) with the three dilated kernels."""
        return structure_aware_state_fusion(
            h, self.kernel_3, self.kernel_3_1, self.kernel_3_2, self.alpha
        )


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------


class Stem(ConvStem):
    """The conv stem, channels last: (B, 3, H, W) -> (B, ceil(H/4), ceil(W/4), dim)."""

    def forward(self, x: Tensor) -> Tensor:
        """The conv stem's map, channels last."""
        # Channels-last memory from the first conv on, so the permute below is a contiguous
        # (B, H, W, C) map: an NCHW stem would leave the whole trunk a permuted view (elementwise
        # ops keep their inputs' strides), each LayerNorm/Linear copying it, each conv NCHW.
        x = super().forward(x.contiguous(memory_format=torch.channels_last))
        return x.permute(0, 2, 3, 1)


class DownSampling(nn.Module):
    """Inverted-bottleneck stride-2 downsampling dim -> 2*dim (1x1, dw 3x3 s2, 1x1 + BN)."""

    def __init__(self, dim: int, ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(2 * dim * ratio)
        self.conv = nn.Sequential(
            ConvLayer(dim, hidden, 1, norm=False),
            ConvLayer(hidden, hidden, 3, stride=2, padding=1, groups=hidden, norm=False),
            ConvLayer(hidden, 2 * dim, 1, act=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, H, W, C) -> (B, H/2, W/2, 2C), channels last."""
        return self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class StructureAwareSSM(nn.Module):
    """in_proj -> dwconv+SiLU -> selective scan states -> SASF -> C/D -> LN -> gate -> out_proj."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 1,
        expand: int = 2,
        d_conv: int = 3,
        dt_init: str = "random",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if d_state != 1:
            # The fusion works on the (B, D, H, W) state map: the authors' code requires N == 1.
            raise UserInputError(
                f"Spatial-Mamba supports d_state=1 only (got {d_state}); the state fusion "
                "reshapes one state per channel onto the image grid"
            )
        self.d_model, self.d_state = d_model, d_state
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16)
        d_inner = self.d_inner

        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv2d = nn.Conv2d(d_inner, d_inner, d_conv, padding=(d_conv - 1) // 2,
                                groups=d_inner)  # fmt: skip
        self.act = nn.SiLU()
        self.x_proj_weight = nn.Parameter(torch.empty(self.dt_rank + 2 * d_state, d_inner))
        self.dt_projs_weight = nn.Parameter(torch.empty(d_inner, self.dt_rank))
        self.dt_projs_bias = nn.Parameter(torch.empty(d_inner))
        self.A_logs = nn.Parameter(
            torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1)
        )
        self.Ds = nn.Parameter(torch.ones(d_inner))
        self.state_fusion = StateFusion(d_inner)
        self.out_norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0.0 else None
        self._init_ssm(dt_init, dt_min, dt_max, dt_init_floor)

    @torch.no_grad()
    def _init_ssm(self, dt_init: str, dt_min: float, dt_max: float, floor: float) -> None:
        # Mamba's initialisation: softplus(dt_bias) log-uniform in [dt_min, dt_max].
        nn.init.kaiming_uniform_(self.x_proj_weight, a=math.sqrt(5))
        std = self.dt_rank**-0.5
        if dt_init == "constant":
            nn.init.constant_(self.dt_projs_weight, std)
        elif dt_init == "random":
            nn.init.uniform_(self.dt_projs_weight, -std, std)
        else:
            raise UserInputError(f"unknown dt_init {dt_init!r}; use 'random' or 'constant'")
        dt = torch.exp(
            torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        ).clamp(min=floor)
        self.dt_projs_bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def ssm(self, x: Tensor) -> Tensor:
        """x: (B, H, W, D) -> y: (B, H, W, D), at least float32 (the scan outputs float32).

        Token-major throughout: the projections are linears over the channels, the scan and the
        state fusion read and write channels-last memory, so no step transposes a map.
        """
        bsz, height, width, dim = x.shape
        xs = x.reshape(bsz, height * width, dim)
        x_dbl = F.linear(xs, self.x_proj_weight)  # (B, L, R + 2N)
        dts, bs, cs = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dts = F.linear(dts, self.dt_projs_weight)  # (B, L, D)
        h = selective_scan_states_tokens(
            xs, dts, -torch.exp(self.A_logs), bs,
            delta_bias=self.dt_projs_bias, delta_softplus=True,
        )  # fmt: skip
        h = self.state_fusion(h.reshape(bsz, height, width, dim).permute(0, 3, 1, 2))
        h = h.permute(0, 2, 3, 1).reshape(bsz, height * width, dim)
        return (h * cs + xs * self.Ds).reshape(bsz, height, width, dim)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, H, W, C) channels last."""
        # in_proj as two linears over its weight's halves: each half comes out contiguous, so
        # the depthwise conv gets a channels-last map (a chunk of one output is strided, and
        # the conv would copy it to NCHW)
        w_x, w_z = self.in_proj.weight.chunk(2, dim=0)
        z = F.linear(x, w_z)
        x = self.act(self.conv2d(F.linear(x, w_x).permute(0, 3, 1, 2))).permute(0, 2, 3, 1)
        y = self.ssm(x)
        # y is at least float32 (the scan's output); the norm runs in y's precision, then the
        # gated result returns to the model's working precision for out_proj (as autocast does).
        norm = self.out_norm
        y = F.layer_norm(y, norm.normalized_shape, norm.weight.to(y.dtype), norm.bias.to(y.dtype),
                         norm.eps)  # fmt: skip
        y = (y * F.silu(z.to(y.dtype))).to(self.out_proj.weight.dtype)
        y = self.out_proj(y)
        return self.dropout(y) if self.dropout is not None else y


class SpatialMambaBlock(nn.Module):
    """x += dwconv(x); x += SSM(LN(x)); x += dwconv(x); x += Mlp(LN(x)) (channels last)."""

    def __init__(
        self,
        dim: int,
        drop_path: float = 0.0,
        d_state: int = 1,
        dt_init: str = "random",
        mlp_ratio: float = 4.0,
        attn_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.cpe1 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.ln_1 = nn.LayerNorm(dim)
        self.self_attention = StructureAwareSSM(dim, d_state=d_state, dt_init=dt_init,
                                                dropout=attn_drop)  # fmt: skip
        self.drop_path = DropPath(drop_path)
        self.cpe2 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        """CPE, the SASF mixer, CPE, MLP on a (B, H, W, C) map (pre-norm residuals)."""
        x = x + self.cpe1(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        x = x + self.drop_path(self.self_attention(self.ln_1(x)))
        x = x + self.cpe2(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + self.drop_path(self.mlp(self.ln_2(x)))


class SpatialMambaLayer(nn.Module):
    """One stage: blocks, then (except the last stage) DownSampling. forward returns both the
    stage output (what the detection backbone emits) and the downsampled map."""

    def __init__(
        self,
        dim: int,
        depth: int,
        drop_path: Sequence[float],
        downsample: bool,
        use_checkpoint: bool = False,
        **block_kwargs: Any,
    ) -> None:
        super().__init__()
        self.use_checkpoint = use_checkpoint
        self.blocks = nn.ModuleList(
            SpatialMambaBlock(dim, drop_path=drop_path[i], **block_kwargs) for i in range(depth)
        )
        self.downsample = DownSampling(dim) if downsample else None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """(the stage's output, its downsampled map or None after the last stage)."""
        for blk in self.blocks:
            if self.use_checkpoint and self.training:
                x = activation_checkpoint.checkpoint(blk, x, use_reentrant=False)
            else:
                x = blk(x)
        return x, (self.downsample(x) if self.downsample is not None else None)


# --------------------------------------------------------------------------------------------
# Classifier and backbone
# --------------------------------------------------------------------------------------------


class _SpatialMambaTrunk(nn.Module):
    def __init__(
        self,
        depths: Sequence[int],
        dims: int | Sequence[int],
        d_state: int | None,
        dt_init: str,
        mlp_ratio: float,
        drop_rate: float,
        attn_drop_rate: float,
        drop_path_rate: float,
        in_chans: int,
        patch_size: int,
        use_checkpoint: bool,
    ) -> None:
        super().__init__()
        if patch_size != 4:
            raise UserInputError(
                f"Spatial-Mamba's conv stem has stride 4; got patch_size={patch_size}"
            )
        if isinstance(dims, int):
            dims = [dims * 2**i for i in range(len(depths))]
        if len(dims) != len(depths):
            raise UserInputError(f"dims {list(dims)} and depths {list(depths)} differ in length")
        self.dims = list(dims)
        self.depths = list(depths)
        self.num_features = self.dims[-1]
        self.patch_embed = Stem(in_chans, self.dims[0])
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        state = math.ceil(self.dims[0] / 6) if d_state is None else d_state
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths):
            start = sum(depths[:i])
            self.layers.append(
                SpatialMambaLayer(
                    self.dims[i],
                    depth,
                    drop_path=dpr[start : start + depth],
                    downsample=i < len(depths) - 1,
                    use_checkpoint=use_checkpoint,
                    d_state=state,
                    dt_init=dt_init,
                    mlp_ratio=mlp_ratio,
                    attn_drop=attn_drop_rate,
                )
            )

    def _init_linear_and_norm(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


class SpatialMamba(_SpatialMambaTrunk):
    """ImageNet classifier: (B, 3, H, W) -> (B, num_classes)."""

    def __init__(
        self,
        depths: Sequence[int] = (2, 4, 8, 4),
        dims: int | Sequence[int] = 64,
        d_state: int | None = 1,
        dt_init: str = "random",
        mlp_ratio: float = 4.0,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        num_classes: int = 1000,
        in_chans: int = 3,
        patch_size: int = 4,
        img_size: int = 224,  # accepted like the authors' (only sized their unused pos. embed)
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__(depths, dims, d_state, dt_init, mlp_ratio, drop_rate, attn_drop_rate,
                         drop_path_rate, in_chans, patch_size, use_checkpoint)  # fmt: skip
        self.num_classes = num_classes
        self.norm = nn.LayerNorm(self.num_features)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self._init_linear_and_norm()

    def forward_features(self, x: Tensor) -> Tensor:
        """Pooled, normed features of the last stage (B, C)."""
        x = self.pos_drop(self.patch_embed(x))
        for layer in self.layers:
            out, down = layer(x)
            x = out if down is None else down
        return self.norm(x.flatten(1, 2)).mean(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """ImageNet logits (B, 1000)."""
        return self.head(self.forward_features(x))


class MM_SpatialMamba(_SpatialMambaTrunk):  # the authors' registered type name
    """Detection / segmentation backbone: 4 NCHW maps at strides 4/8/16/32, each stage's output
    (before its downsampling) through a LayerNorm `outnorm{i}`.

    Takes the authors' config dict as written (`pretrained`, `out_indices`, `norm_layer='ln'`,
    plus the Swin keys their configs merge in and the model ignores). `pretrained` is a
    classifier checkpoint path ('' or None: none); it is loaded strictly apart from the
    classifier-only head/norm and the detection-only outnorms.
    """

    def __init__(
        self,
        depths: Sequence[int] = (2, 4, 8, 4),
        dims: int | Sequence[int] = 64,
        d_state: int | None = 1,
        dt_init: str = "random",
        mlp_ratio: float = 4.0,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        pretrained: str | None = None,
        norm_layer: str = "ln",
        key: str = "model",
        in_chans: int = 3,
        patch_size: int = 4,
        use_checkpoint: bool = False,
        num_classes: int = 1000,  # accepted and unused: the backbone has no head
        **swin_kwargs: Any,
    ) -> None:
        unknown = sorted(set(swin_kwargs) - _IGNORED_SWIN_KWARGS)
        if unknown:
            raise UserInputError(
                f"MM_SpatialMamba: unknown argument(s) {', '.join(unknown)}; see "
                "vzoo.zoo.spatial_mamba.MM_SpatialMamba for the accepted ones"
            )
        if norm_layer.lower() != "ln":
            raise UserInputError(
                f"MM_SpatialMamba: norm_layer={norm_layer!r} is not supported; the released "
                "configs use 'ln'"
            )
        super().__init__(depths, dims, d_state, dt_init, mlp_ratio, drop_rate, attn_drop_rate,
                         drop_path_rate, in_chans, patch_size, use_checkpoint)  # fmt: skip
        self.out_indices = tuple(out_indices)
        for i in self.out_indices:
            self.add_module(f"outnorm{i}", nn.LayerNorm(self.dims[i]))
        self._init_linear_and_norm()
        if pretrained:
            self.load_classifier_checkpoint(pretrained, key=key)

    def load_classifier_checkpoint(self, path: str | Path, key: str = "model") -> None:
        """Load an ImageNet classifier checkpoint into the trunk (outnorms keep their init)."""
        path = Path(path)
        if not path.is_file():
            raise UserInputError(f"MM_SpatialMamba: pretrained checkpoint {path} does not exist")
        from vzoo.hub.loading import load_checkpoint

        ckpt = load_checkpoint(path)
        state = ckpt.get(key, ckpt) if isinstance(ckpt, dict) else ckpt
        state = {k: v for k, v in state.items() if not k.startswith(("head.", "norm."))}
        own = self.state_dict()
        trunk = {k for k in own if not k.startswith("outnorm")}
        missing = sorted(trunk - set(state))
        unexpected = sorted(set(state) - set(own))
        mismatched = [
            (k, tuple(state[k].shape), tuple(own[k].shape))
            for k in sorted(trunk & set(state))
            if state[k].shape != own[k].shape
        ]
        if missing or unexpected or mismatched:
            raise CheckpointMismatchError(str(path), missing, unexpected, mismatched)
        self.load_state_dict(state, strict=False)

    def init_weights(self) -> None:
        """mmengine calls this after building; the weights were initialised in __init__."""

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Each stage's output (before downsampling), normed, as NCHW maps."""
        x = self.patch_embed(x)
        outs = []
        for i, layer in enumerate(self.layers):
            out, down = layer(x)
            if i in self.out_indices:
                outs.append(getattr(self, f"outnorm{i}")(out).permute(0, 3, 1, 2).contiguous())
            if down is not None:
                x = down
        return tuple(outs)


# --------------------------------------------------------------------------------------------
# Builders and registration
# --------------------------------------------------------------------------------------------


def _arch(arch_id: str) -> SpatialMambaArch:
    if arch_id not in ARCHS:
        raise UserInputError(f"unknown Spatial-Mamba arch '{arch_id}' (known: {', '.join(ARCHS)})")
    return ARCHS[arch_id]


def classifier_kwargs(arch_id: str) -> dict[str, Any]:
    """The `SpatialMamba` constructor arguments of `arch_id` (its ImageNet configuration)."""
    a = _arch(arch_id)
    return dict(depths=a.depths, dims=a.dims, d_state=a.d_state, dt_init="random",
                mlp_ratio=a.mlp_ratio, drop_rate=0.0, drop_path_rate=a.drop_path_rate,
                num_classes=1000, in_chans=3, patch_size=4)  # fmt: skip


def backbone_config(arch_id: str) -> dict[str, Any]:
    """The backbone dict of the authors' Mask R-CNN / UperNet configs for this variant."""
    a = _arch(arch_id)
    return dict(type="MM_SpatialMamba", out_indices=(0, 1, 2, 3), pretrained="", dims=a.dims,
                d_state=a.d_state, depths=a.depths, drop_path_rate=a.drop_path_rate)  # fmt: skip


def build_classifier(arch_id: str, **kwargs: Any) -> SpatialMamba:
    """A Spatial-Mamba classifier of `arch_id`; `kwargs` override `classifier_kwargs`."""
    return SpatialMamba(**{**classifier_kwargs(arch_id), **kwargs})


def build_backbone(arch_id: str, **overrides: Any) -> MM_SpatialMamba:
    """A Spatial-Mamba detection backbone of `arch_id` (its detection config, overridable)."""
    cfg = {k: v for k, v in backbone_config(arch_id).items() if k != "type"}
    return MM_SpatialMamba(**{**cfg, **overrides})


register_backbone("MM_SpatialMamba", MM_SpatialMamba)

__all__ = [
    "ARCHS",
    "MM_SpatialMamba",
    "SpatialMamba",
    "SpatialMambaArch",
    "backbone_config",
    "build_backbone",
    "build_classifier",
    "merged_sasf_kernel",
    "structure_aware_state_fusion",
]
