"""MSVMamba (Multi-Scale VMamba, arXiv 2405.14174): nano / micro / tiny.

A VMamba-lineage hierarchy (4x4 patch embedding, PatchMerging downsampling, channels-last
stages) whose token mixer is the multi-scale 2D selective scan (MS2D), followed by a ConvFFN.

MS2D, as the authors' `SS2D` runs it with `sscore_type="multiscale_4scan_12"`, `ms_split=[1, 3]`:
- in_proj -> (x, z); z = SiLU(z).
- Full-resolution branch: x -> depthwise 3x3 conv -> SiLU -> ONE scan direction (row-major,
  forward) with parameter set 1.
- Half-resolution branch: the same pre-conv x -> depthwise 7x7 stride-2 conv -> SiLU; its three
  remaining directions (row-major reversed, column-major, column-major reversed) are concatenated
  along the sequence axis into ONE sequence of length 3*h'*w' and scanned as a single sequence
  with parameter set 0 (the hidden state carries across the direction boundaries).
- Both outputs go through the same LayerNorm (`out_norm`), the three half-resolution outputs are
  put back in place and summed, bilinearly upsampled (align_corners=False) to (H, W) and added to
  the full-resolution output; then squeeze-excitation, * z, out_proj.

State-dict keys and shapes equal the authors' (`YuHengsss/MSVMamba`, classification/models/vmamba.py
`VSSM` for the classifier, detection/model.py `MM_VSSM` for the detection/segmentation backbone).
The scan goes through `vzoo.kernels.selective_scan_tokens` only (token-major: the channels-last
maps are never transposed); the direction reordering is plain tensor ops here (no shared
cross-scan kernel exists for this layout).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vzoo.core.cards import Convention, FamilyCard
from vzoo.core.errors import UserInputError
from vzoo.kernels import selective_scan_tokens
from vzoo.zoo.checkpoint import load_state_dict_strict
from vzoo.zoo.layers import DropPath, gelu_fresh
from vzoo.zoo.registration import register_backbone

_VMAMBA_DET = (
    "mmengine FlopAnalyzer (fvcore fork) with the scan handle on the detector's tensor forward "
    "(backbone, FPN, RPN proposals, bbox head on the proposals, mask head on the first 100) at "
    "a random (1, 3, 1280, 800) input with a real COCO val image's data sample; eval mode"
)
CARD = FamilyCard(
    name="msvmamba",
    label="MSVMamba",
    module="vzoo.zoo.msvmamba",
    archs=("msvmamba-nano", "msvmamba-micro", "msvmamba-tiny"),
    sizes=("nano", "micro", "tiny"),
    # VMamba-derived config: bicubic, TEST.CROP True: the default transform
    flops={
        "classification": Convention(
            name="vmamba-cls",
            count_scan=True,
            sasf="none",
            params="total",
            bn_training=False,
            how="fvcore flop_count with the scan handle, eval mode, (1, 3, 224, 224)",
            source="YuHengsss/MSVMamba@c394019 classification/models/vmamba.py VSSM.flops()",
        ),
        "detection": Convention(
            name="vmamba-det",
            count_scan=True,
            sasf="none",
            params="total",
            bn_training=False,
            how=_VMAMBA_DET,
            source="YuHengsss/MSVMamba@c394019 analyze/get_flops.py mmdet_flops()",
        ),
        "segmentation": Convention(
            name="vmamba-seg",
            count_scan=True,
            sasf="none",
            params="total",
            bn_training=False,
            how=(
                "fvcore flop_count with the scan handle on the whole segmentor (params include the "
                "auxiliary FCN head; its forward is not traced) at (1, 3, 512, 2048), eval mode"
            ),
            source="YuHengsss/MSVMamba@c394019 analyze/get_flops.py mmseg_flops()",
        ),
    },
    registers=("MM_VSSM",),
    color="#009E73",  # Okabe-Ito
    marker="^",
)


@dataclass(frozen=True)
class MSVMambaArch:
    """Hyper-parameters as classification/configs/ms_vssm/vssm_*_224_ms.yaml set them."""

    dims: int
    depths: tuple[int, int, int, int]
    drop_path_rate: float = 0.2  # classifier (yaml DROP_PATH_RATE)
    det_drop_path_rate: float = 0.2  # Mask R-CNN configs (inherited from the Swin-T base)
    seg_drop_path_rate: float = 0.3  # UperNet configs (Swin base 0.3; tiny sets 0.2)
    ssm_d_state: int = 1
    ssm_ratio: float = 2.0
    ssm_dt_rank: int | str = "auto"
    ms_split: tuple[int, int] = (1, 3)
    ffn_dropout: float = 0.0


ARCHS: dict[str, MSVMambaArch] = {
    "msvmamba-nano": MSVMambaArch(dims=48, depths=(1, 2, 5, 2)),
    "msvmamba-micro": MSVMambaArch(dims=64, depths=(1, 2, 5, 2)),
    "msvmamba-tiny": MSVMambaArch(dims=96, depths=(1, 2, 9, 2), seg_drop_path_rate=0.2),
}


def _at_least_float32(dtype: torch.dtype) -> torch.dtype:
    # The authors cast the SSM parameters to float32; float64 must stay float64.
    return torch.promote_types(dtype, torch.float32)


class Permute(nn.Module):
    """A module that permutes its input's dimensions (for nn.Sequential pipelines)."""

    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        """`x.permute(*dims)`."""
        return x.permute(*self.dims)


class SqueezeExcite(nn.Module):
    """SE on a channels-last map: global mean -> Linear/ReLU/Linear/Sigmoid gate (no biases)."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:  # (B, H, W, C)
        """Scale each channel of a (B, H, W, C) map by its globally pooled gate."""
        return x * self.fc(x.mean(dim=(1, 2)))[:, None, None, :]


class ConvFFN(nn.Module):
    """1x1 conv up (x2) -> + depthwise 3x3 residual -> GELU -> 1x1 conv down, on channels-last
    tokens (B, H, W, C). The 1x1 convs (conv-shaped weights, as the checkpoints store them) run as
    linears over the channels and the depthwise conv on the NHWC memory: no NCHW copies, and
    oneDNN's fast layout for both."""

    def __init__(self, channels: int, expansion: int = 2, drop: float = 0.0) -> None:
        super().__init__()
        hidden = channels * expansion
        self.linear1 = nn.Conv2d(channels, hidden, 1)
        self.drop1 = nn.Dropout(drop)
        self.linear2 = nn.Conv2d(hidden, channels, 1)
        self.drop2 = nn.Dropout(drop)
        self.dwc = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden)

    def forward(self, x: Tensor) -> Tensor:  # (B, H, W, C)
        """Linear -> + depthwise conv -> activation -> linear, on NCHW maps."""
        x = self.drop1(F.linear(x, self.linear1.weight.flatten(1), self.linear1.bias))
        x = gelu_fresh(x + self.dwc(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))
        return self.drop2(F.linear(x, self.linear2.weight.flatten(1), self.linear2.bias))


def low_res_sequence(x: Tensor) -> Tensor:
    """(B, h, w, D) -> (B, 3*h*w, D): row-major reversed, column-major, column-major reversed."""
    cols = x.transpose(1, 2).flatten(1, 2)
    return torch.cat([x.flatten(1, 2).flip(1), cols, cols.flip(1)], dim=1)


def merge_low_res(y: Tensor, h: int, w: int) -> Tensor:
    """(B, 3*h*w, D) scan output -> (B, D, h, w): each direction put back in place, summed."""
    b, _, d = y.shape
    rows_rev, cols, cols_rev = y.split(h * w, dim=1)
    total = (
        rows_rev.flip(1).reshape(b, h, w, d)
        + cols.reshape(b, w, h, d).transpose(1, 2)
        + cols_rev.flip(1).reshape(b, w, h, d).transpose(1, 2)
    )
    return total.permute(0, 3, 1, 2)


class MultiScaleSS2D(nn.Module):
    """The MS2D token mixer (authors' `SS2D` with sscore_type="multiscale_4scan_12")."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 1,
        ssm_ratio: float = 2.0,
        dt_rank: int | str = "auto",
        ms_split: Sequence[int] = (1, 3),
        dropout: float = 0.0,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
    ) -> None:
        super().__init__()
        if list(ms_split) != [1, 3]:
            # [1, 1] / [1, 2] exist in the authors' code but fail there (x is never flattened)
            raise UserInputError(
                f"MSVMamba: ms_split={list(ms_split)} is not supported; only [1, 3] (the released"
                " configs) runs in the authors' code"
            )
        d_inner = int(ssm_ratio * d_model)
        self.d_inner, self.d_state = d_inner, d_state
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        k = 2  # parameter set 0: half-resolution sequence; 1: full-resolution sequence

        x_proj = torch.empty(k, self.dt_rank + 2 * d_state, d_inner)
        for i in range(k):  # nn.Linear's default init, as the authors' stacked Linear weights
            nn.init.kaiming_uniform_(x_proj[i], a=math.sqrt(5))
        self.x_proj_weight = nn.Parameter(x_proj)
        std = self.dt_rank**-0.5
        dt_w = torch.empty(k, d_inner, self.dt_rank).uniform_(-std, std)
        self.dt_projs_weight = nn.Parameter(dt_w)
        # softplus(bias) log-uniform in [dt_min, dt_max] (Mamba's dt init)
        dt = torch.exp(
            torch.rand(k, d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        self.dt_projs_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        a_log = torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(k * d_inner, 1)
        self.A_logs = nn.Parameter(a_log)
        self.Ds = nn.Parameter(torch.ones(k * d_inner))

        self.out_norm = nn.LayerNorm(d_inner)
        self.se = SqueezeExcite(d_inner, reduction=8)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.act = nn.SiLU()
        self.conv2d = nn.Conv2d(d_inner, d_inner, 3, padding=1, groups=d_inner)
        self.conv2d_b1 = nn.Conv2d(d_inner, d_inner, 7, stride=2, padding=3, groups=d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def scan(self, u: Tensor, k: int) -> Tensor:
        """One selective scan over tokens u (B, L, D) with parameter set k -> out_norm'ed
        (B, L, D). Token-major throughout: the projections are linears over the channels and
        the scan reads and writes (B, L, D), so nothing is transposed."""
        d, n, r = self.d_inner, self.d_state, self.dt_rank
        x_dbl = F.linear(u, self.x_proj_weight[k])  # (B, L, R + 2N)
        dts, b_ssm, c_ssm = torch.split(x_dbl, [r, n, n], dim=-1)
        dts = F.linear(dts, self.dt_projs_weight[k])  # (B, L, D)
        ct = _at_least_float32(self.A_logs.dtype)
        a = -torch.exp(self.A_logs[k * d : (k + 1) * d].to(ct))
        y = selective_scan_tokens(
            u, dts, a, b_ssm, c_ssm,
            D=self.Ds[k * d : (k + 1) * d].to(ct),
            delta_bias=self.dt_projs_bias[k].to(ct),
            delta_softplus=True,
        )  # fmt: skip
        return self.out_norm(y.to(u.dtype))

    def forward(self, x: Tensor) -> Tensor:  # (B, H, W, C) -> (B, H, W, C)
        """Multi-scale 2-D selective scan: (B, H, W, C) -> (B, H, W, C)."""
        b, h, w, _ = x.shape
        # in_proj as two linears over its weight's halves: each comes out contiguous, so the
        # depthwise convs get a channels-last map (oneDNN's fast layout) without a copy
        w_x, w_z = self.in_proj.weight.chunk(2, dim=0)
        z = self.act(F.linear(x, w_z))
        x = F.linear(x, w_x).permute(0, 3, 1, 2)
        x_full = self.act(self.conv2d(x)).permute(0, 2, 3, 1)  # (B, H, W, D)
        x_low = self.act(self.conv2d_b1(x)).permute(0, 2, 3, 1)
        h1, w1 = x_low.shape[1:3]
        y_low = self.scan(low_res_sequence(x_low), 0)
        y_full = self.scan(x_full.reshape(b, h * w, -1), 1).reshape(b, h, w, -1)
        y_low = merge_low_res(y_low, h1, w1)
        y_low = F.interpolate(y_low, size=(h, w), mode="bilinear", align_corners=False)
        y = y_full + y_low.permute(0, 2, 3, 1)
        y = self.se(y) * z
        return self.dropout(self.out_proj(y))


class MSVSSBlock(nn.Module):
    """x + MS2D(LN(x)); x + ConvFFN(LN(x)) (channels-last in and out)."""

    def __init__(
        self,
        dim: int,
        drop_path: float,
        d_state: int,
        ssm_ratio: float,
        dt_rank: int | str,
        ms_split: Sequence[int],
        ffn_dropout: float,
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.op = MultiScaleSS2D(dim, d_state, ssm_ratio, dt_rank, ms_split)
        self.drop_path = DropPath(drop_path)
        self.convFFN = ConvFFN(dim, expansion=2, drop=ffn_dropout)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        """The scan branch, then the conv FFN, each a residual with drop-path."""
        x = x + self.drop_path(self.op(self.norm(x)))
        return x + self.drop_path(self.convFFN(self.norm2(x)))


class PatchMerging2D(nn.Module):
    """2x2 concat (x00, x10, x01, x11) -> LN -> Linear(4C, 2C); odd H/W zero-padded."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: Tensor) -> Tensor:  # (B, H, W, C)
        """2x2 neighbours concatenated, normed and projected: (B, H, W, C) -> (B, H/2, W/2, 2C)."""
        h, w = x.shape[1:3]
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat(
            [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1
        )
        return self.reduction(self.norm(x))


class Stage(nn.Module):
    """One stage: its blocks, then its downsampling (identity after the last)."""

    def __init__(self, blocks: list[nn.Module], downsample: nn.Module) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*blocks)
        self.downsample = downsample


class ClassifierHead(nn.Module):
    """LayerNorm, global average pool, linear: (B, H, W, C) -> logits."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # (B, H, W, C)
        """Logits of a channels-last map."""
        return self.head(self.norm(x).mean(dim=(1, 2)))


class MSVMamba(nn.Module):
    """Stem + 4 stages; `classifier` head when num_classes > 0 (the ImageNet model)."""

    def __init__(
        self,
        dims: int | Sequence[int] = 96,
        depths: Sequence[int] = (1, 2, 9, 2),
        num_classes: int = 1000,
        in_chans: int = 3,
        patch_size: int = 4,
        ssm_d_state: int = 1,
        ssm_ratio: float = 2.0,
        ssm_dt_rank: int | str = "auto",
        ms_split: Sequence[int] = (1, 3),
        ffn_dropout: float = 0.0,
        drop_path_rate: float = 0.2,
    ) -> None:
        super().__init__()
        n = len(depths)
        widths = [int(dims * 2**i) for i in range(n)] if isinstance(dims, int) else list(dims)
        self.dims = widths
        self.patch_embed = nn.Sequential(
            nn.Conv2d(in_chans, widths[0], kernel_size=patch_size, stride=patch_size),
            Permute(0, 2, 3, 1),
            nn.LayerNorm(widths[0]),
        )
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths):
            start = sum(depths[:i])
            blocks: list[nn.Module] = [
                MSVSSBlock(widths[i], dpr[start + j], ssm_d_state, ssm_ratio, ssm_dt_rank,
                           ms_split, ffn_dropout)
                for j in range(depth)
            ]  # fmt: skip
            down: nn.Module = (
                PatchMerging2D(widths[i], widths[i + 1]) if i < n - 1 else nn.Identity()
            )
            self.layers.append(Stage(blocks, down))
        if num_classes > 0:
            self.classifier = ClassifierHead(widths[-1], num_classes)
        self.apply(_init_weights)

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's (B, H, W, C) map."""
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer.downsample(layer.blocks(x))
        return x

    def forward(self, x: Tensor) -> Tensor:
        """ImageNet logits (B, 1000)."""
        return self.classifier(self.forward_features(x))


def _init_weights(m: nn.Module) -> None:
    # The authors' VSSM._init_weights (runs after the SSM parameters are set).
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


# Keys the authors' detection/segmentation configs merge in from their Swin bases; their
# Backbone_VSSM swallows them through **kwargs without effect, so they are accepted and ignored.
SWIN_LEFTOVER_KWARGS = frozenset(
    {
        "embed_dims", "num_heads", "window_size", "qkv_bias", "qk_scale", "drop_rate",
        "attn_drop_rate", "patch_norm", "with_cp", "convert_weights", "init_cfg",
        "pretrain_img_size", "strides", "use_abs_pos_embed", "act_cfg", "norm_cfg",
    }
)  # fmt: skip


class MSVMambaBackbone(MSVMamba):
    """The detection / segmentation backbone (the authors' `MM_VSSM`): 4 LayerNorm'ed NCHW maps.

    Takes the authors' config kwargs as-is (`dict(type='MM_VSSM', dims=..., depths=..., ...)`).
    """

    def __init__(
        self,
        dims: int | Sequence[int] = 96,
        depths: Sequence[int] = (1, 2, 9, 2),
        out_indices: Sequence[int] = (0, 1, 2, 3),
        pretrained: str | None = None,
        ssm_d_state: int = 1,
        ssm_ratio: float = 2.0,
        ssm_dt_rank: int | str = "auto",
        ms_split: Sequence[int] = (1, 3),
        ffn_dropout: float = 0.0,
        drop_path_rate: float = 0.2,
        in_chans: int = 3,
        patch_size: int = 4,
        mlp_ratio: float = 0.0,
        downsample_version: str = "v1",
        patchembed_version: str = "v1",
        sscore_type: str = "multiscale_4scan_12",
        convFFN: bool = True,  # the authors' config key
        add_se: bool = True,
        ms_stage: Sequence[int] = (0, 1, 2, 3),
        **swin_leftovers: Any,
    ) -> None:
        unknown = sorted(set(swin_leftovers) - SWIN_LEFTOVER_KWARGS)
        if unknown:
            raise UserInputError(f"MM_VSSM: unknown argument(s) {', '.join(unknown)}")
        _check_variant(
            mlp_ratio, downsample_version, patchembed_version, sscore_type, convFFN, add_se,
            ms_stage, len(depths),
        )  # fmt: skip
        super().__init__(
            dims, depths, 0, in_chans, patch_size, ssm_d_state, ssm_ratio, ssm_dt_rank,
            ms_split, ffn_dropout, drop_path_rate,
        )  # fmt: skip
        self.out_indices = tuple(out_indices)
        for i in self.out_indices:
            self.add_module(f"outnorm{i}", nn.LayerNorm(self.dims[i]))
        if pretrained:
            self.load_pretrained(pretrained)

    def load_pretrained(self, path: str) -> None:
        """Load an ImageNet classifier checkpoint ("model" entry) minus its classifier keys.

        Like the authors, a path that does not exist only warns (their configs point at files
        of their machine; the detector checkpoint holds the backbone weights anyway).
        """
        if not Path(path).is_file():
            msg = f"MM_VSSM: pretrained checkpoint {path} not found; not loaded"
            warnings.warn(msg, stacklevel=2)
            return
        from vzoo.hub.loading import load_checkpoint

        ckpt = load_checkpoint(path)
        state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else ckpt
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
        for k, v in self.state_dict().items():  # not in a classifier checkpoint: keep ours
            if k.startswith("outnorm"):
                state.setdefault(k, v)
        load_state_dict_strict(self, state, source=path)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:  # type: ignore[override]
        """Each stage's output (before downsampling), normed, as NCHW maps."""
        x = self.patch_embed(x)
        outs = []
        for i, layer in enumerate(self.layers):
            o = layer.blocks(x)
            x = layer.downsample(o)
            if i in self.out_indices:
                outs.append(getattr(self, f"outnorm{i}")(o).permute(0, 3, 1, 2).contiguous())
        return tuple(outs)


def _check_variant(
    mlp_ratio: float,
    downsample_version: str,
    patchembed_version: str,
    sscore_type: str,
    conv_ffn: bool,
    add_se: bool,
    ms_stage: Sequence[int],
    n_stages: int,
) -> None:
    """Only the released MSVMamba variant is implemented; say so instead of building another."""
    wanted = {
        "mlp_ratio": (mlp_ratio, 0.0),
        "downsample_version": (downsample_version, "v1"),
        "patchembed_version": (patchembed_version, "v1"),
        "sscore_type": (sscore_type, "multiscale_4scan_12"),
        "convFFN": (conv_ffn, True),
        "add_se": (add_se, True),
        "ms_stage": (sorted(ms_stage), list(range(n_stages))),
    }
    bad = [f"{k}={v!r} (only {w!r})" for k, (v, w) in wanted.items() if v != w]
    if bad:
        raise UserInputError(
            "MM_VSSM: only the released MSVMamba configuration is implemented: " + "; ".join(bad)
        )


def _arch(arch_id: str) -> MSVMambaArch:
    if arch_id not in ARCHS:
        raise UserInputError(f"unknown MSVMamba arch '{arch_id}' (known: {', '.join(ARCHS)})")
    return ARCHS[arch_id]


def build_classifier(arch_id: str, **kwargs: Any) -> MSVMamba:
    """The ImageNet-1K classifier; kwargs override the arch's hyper-parameters (e.g. depths)."""
    a = _arch(arch_id)
    cfg: dict[str, Any] = dict(
        dims=a.dims, depths=a.depths, ssm_d_state=a.ssm_d_state, ssm_ratio=a.ssm_ratio,
        ssm_dt_rank=a.ssm_dt_rank, ms_split=a.ms_split, ffn_dropout=a.ffn_dropout,
        drop_path_rate=a.drop_path_rate,
    )  # fmt: skip
    cfg.update(kwargs)
    return MSVMamba(**cfg)


def build_backbone(arch_id: str, **overrides: Any) -> MSVMambaBackbone:
    """The backbone as the authors' Mask R-CNN config builds it (drop_path_rate 0.2)."""
    a = _arch(arch_id)
    cfg: dict[str, Any] = dict(
        dims=a.dims, depths=a.depths, out_indices=(0, 1, 2, 3), ssm_d_state=a.ssm_d_state,
        ssm_ratio=a.ssm_ratio, ssm_dt_rank=a.ssm_dt_rank, ms_split=a.ms_split,
        ffn_dropout=a.ffn_dropout, drop_path_rate=a.det_drop_path_rate,
    )  # fmt: skip
    cfg.update(overrides)
    return MSVMambaBackbone(**cfg)


register_backbone("MM_VSSM", MSVMambaBackbone)

__all__ = [
    "ARCHS",
    "MSVMamba",
    "MSVMambaArch",
    "MSVMambaBackbone",
    "MultiScaleSS2D",
    "build_backbone",
    "build_classifier",
]
