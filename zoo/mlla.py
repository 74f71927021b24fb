"""MLLA: Mamba-Like Linear Attention (Han et al., NeurIPS 2024, LeapLabTHU/MLLA).

Each block is a Mamba-style gated branch (in_proj -> depthwise conv -> SiLU -> attention, gated
by SiLU(act_proj(x))) whose token mixer is linear attention with rotary position embedding
(RoPE) and a depthwise-conv positional term (LePE), wrapped by conditional position encodings
(cpe1/cpe2) and an MLP.

Two variants share the blocks and the state-dict layout of the authors' code:
- `MLLA` (classifier): RoPE tables stored as `rotations` buffers built for the training size
  (224), so it takes 224×224 inputs only, like the authors' classifier.
- `MLLABackbone` (registered as `MLLA` in mmdet/mmseg): recomputes RoPE for the actual feature
  size, pads odd sizes on the right/bottom, and LayerNorms each output (`norm0..norm3`). It still
  builds the unused 224 RoPE buffers because the detection checkpoints carry them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils import checkpoint as activation_checkpoint

from vzoo.core.cards import Convention, FamilyCard
from vzoo.core.errors import UserInputError
from vzoo.zoo.layers import ConvLayer, ConvStem, DropPath, Mlp
from vzoo.zoo.registration import register_backbone

CARD = FamilyCard(
    name="mlla",
    label="MLLA",
    module="vzoo.zoo.mlla",
    archs=("mlla-t", "mlla-s", "mlla-b"),
    sizes=("T", "S", "B"),
    # MLLA config.py: DATA.INTERPOLATION bicubic, TEST.CROP True: the default transform
    checkpoint_keys="mmdet2",  # the detection releases were trained with mmdet 2.25
    flops={
        "classification": Convention(
            name="fvcore-all",
            count_scan=False,
            sasf="none",
            params="total",
            bn_training=False,
            how=(
                "no counting script is released for the classifiers (the Swin-derived main.py logs "
                "none); fvcore on every op, linear-attention matmuls included, eval mode, 224x224"
            ),
            source="LeapLabTHU/MLLA main.py, models/mlla.py (no flops code)",
        ),
        "detection": Convention(
            name="mlla-det",
            count_scan=False,
            sasf="none",
            params="total",
            bn_training=False,
            how=(
                "fvcore on every op (linear-attention matmuls included) of the detector's tensor "
                "forward at (1, 3, 1280, 800), bbox head on 1000 RoIs, mask head on "
                "100: reproduces "
                "the three published figures to <= 0.3%; the released get_flops.py (mmcv 1.x "
                "module hooks on mmdet 2.x forward_dummy: conv, linear, norms, pools, ReLU-family; "
                "functional matmuls, GELU, RoPE uncounted; Swin/PVT add-ons not applicable) gives "
                "0.7-1.1% less (the 'released script' column)"
            ),
            source="LeapLabTHU/MLLA downstream/detection/tools/analysis_tools/get_flops.py",
            script=Convention(
                name="released-script",
                count_scan=False,
                sasf="none",
                params="trainable",
                bn_training=False,
                how="mmcv 1.x get_model_complexity_info (module hooks)",
                source="LeapLabTHU/MLLA downstream/detection/tools/analysis_tools/get_flops.py",
                tool="mmcv1-hooks",
            ),
        ),
    },
    registers=("MLLA",),
    color="#D55E00",  # Okabe-Ito
    marker="s",
)


@dataclass(frozen=True)
class MLLAConfig:
    """The shape of one MLLA size: stem width, blocks and heads per stage, MLP ratio."""

    embed_dim: int
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    mlp_ratio: float = 4.0
    # ImageNet training drop-path rate (cfgs/mlla_*.yaml); detection rows set their own.
    drop_path_rate: float = 0.1


# cfgs/mlla_{t,s,b}.yaml
ARCHS: dict[str, MLLAConfig] = {
    "mlla-t": MLLAConfig(64, (2, 4, 8, 4), (2, 4, 8, 16), drop_path_rate=0.2),
    "mlla-s": MLLAConfig(64, (3, 6, 21, 6), (2, 4, 8, 16), drop_path_rate=0.3),
    "mlla-b": MLLAConfig(96, (3, 6, 21, 6), (3, 6, 12, 24), drop_path_rate=0.5),
}


def _at_least_float32(dtype: torch.dtype) -> torch.dtype:
    # The authors cast RoPE inputs to float32 to protect half precision; never downcast float64.
    return torch.promote_types(dtype, torch.float32)


def rope_angles(
    h: int, w: int, dim: int, dtype: torch.dtype, device: torch.device | None = None
) -> Tensor:
    """Angles (h, w, dim // 2) of the 2-D RoPE: [i·θ_k, j·θ_k] with θ_k = 10000^(-k / k_max)."""
    k_max = dim // 4  # dim // (2 · number of spatial axes)
    theta = 1.0 / (10000 ** (torch.arange(k_max, dtype=dtype, device=device) / k_max))
    rows = torch.arange(h, dtype=dtype, device=device)[:, None, None] * theta
    cols = torch.arange(w, dtype=dtype, device=device)[None, :, None] * theta
    return torch.cat([rows.expand(h, w, k_max), cols.expand(h, w, k_max)], dim=-1)


def rotate_pairs(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs (2m, 2m+1) of x (..., C) as complex numbers by angles with cos/sin
    (..., C // 2)."""
    return rotate_complex(x, torch.complex(cos, sin))


def rotate_complex(x: Tensor, rotation: Tensor) -> Tensor:
    """Multiply channel pairs (2m, 2m+1) of x (..., C) as complex numbers by `rotation`
    (..., C // 2, complex).

    One complex multiply, as the authors compute it: the same (ac - bd, ad + bc) roundings as four
    real products, a sum and a difference, bit for bit in float32 and float64, at a tenth of their
    time on a CPU (no stack of two halves, one pass over x).
    """
    pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(rotation * pairs).flatten(-2)


class RoPE(nn.Module):
    """RoPE with its cos/sin table stored as the `rotations` buffer (h, w, dim // 2, 2)."""

    def __init__(self, h: int, w: int, dim: int) -> None:
        super().__init__()
        angles = rope_angles(h, w, dim, torch.float32)
        self.register_buffer("rotations", torch.stack([angles.cos(), angles.sin()], dim=-1))

    def forward(self, x: Tensor) -> Tensor:
        """Rotate (B, H, W, C) features by the stored angles (in at least float32)."""
        x = x.to(_at_least_float32(x.dtype))
        rot = self.rotations.to(x.dtype)
        return rotate_pairs(x, rot[..., 0], rot[..., 1])


def _tokens_to_map(x: Tensor, hw: tuple[int, int]) -> Tensor:
    # A channels-last view, no copy: depthwise convs run faster on it on CPU.
    return x.reshape(x.shape[0], *hw, x.shape[2]).permute(0, 3, 1, 2)


def _map_to_tokens(x: Tensor) -> Tensor:
    return x.flatten(2).transpose(1, 2)


class LinearAttention(nn.Module):
    """Linear attention with RoPE and LePE; v is the input itself, only q and k are projected.

    `dynamic_rope=False` multiplies by the stored 224 table (classifier); `True` recomputes the
    table for the input's (h, w) (detection/segmentation backbone).
    """

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        num_heads: int,
        qkv_bias: bool = True,
        dynamic_rope: bool = False,
    ) -> None:
        super().__init__()
        self.dim, self.num_heads, self.dynamic_rope = dim, num_heads, dynamic_rope
        self.qk = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.elu = nn.ELU()
        self.lepe = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.rope = RoPE(input_resolution[0], input_resolution[1], dim)

    def rope_tables(self, h: int, w: int, like: Tensor) -> tuple[Tensor, Tensor]:
        """cos, sin (h, w, dim // 2) in at least float32, shared by q and k."""
        dtype = _at_least_float32(like.dtype)
        if self.dynamic_rope:
            angles = rope_angles(h, w, self.dim, dtype, like.device)
            return angles.cos(), angles.sin()
        rot = self.rope.rotations.to(dtype)
        return rot[..., 0], rot[..., 1]

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        """Linear attention over (B, N, C) tokens of an h x w map, with RoPE on q/k and LePE."""
        b, n, c = x.shape
        h, w = hw
        heads, head_dim = self.num_heads, c // self.num_heads
        q, k = self.qk(x).chunk(2, dim=-1)
        q = self.elu(q) + 1.0
        k = self.elu(k) + 1.0

        def split_heads(t: Tensor) -> Tensor:
            return t.reshape(b, n, heads, head_dim).transpose(1, 2)

        rotation = torch.complex(*self.rope_tables(h, w, q))

        def rope(t: Tensor) -> Tensor:
            real = t.to(rotation.real.dtype).reshape(b, h, w, c)
            return split_heads(rotate_complex(real, rotation))

        q_rope, k_rope = rope(q), rope(k)
        q, k, v = split_heads(q), split_heads(k), split_heads(x)

        # The normaliser uses q, k without RoPE (positivity); both 1/sqrt(n) keep kv bounded.
        z = 1.0 / (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1) + 1e-6)
        kv = (k_rope.transpose(-2, -1) * n**-0.5) @ (v * n**-0.5)
        out = (q_rope @ kv * z).transpose(1, 2).reshape(b, n, c)
        return out + _map_to_tokens(self.lepe(_tokens_to_map(x, hw)))


class MLLABlock(nn.Module):
    """One MLLA block: CPE, the gated linear-attention branch, CPE, MLP (pre-norm residuals)."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        drop_path: float = 0.0,
        dynamic_rope: bool = False,
    ) -> None:
        super().__init__()
        self.cpe1 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim)
        self.in_proj = nn.Linear(dim, dim)
        self.act_proj = nn.Linear(dim, dim)
        self.dwc = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.act = nn.SiLU()
        self.attn = LinearAttention(dim, input_resolution, num_heads, qkv_bias, dynamic_rope)
        self.out_proj = nn.Linear(dim, dim)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.cpe2 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        """(B, N, C) tokens of an h x w map -> the same shape."""
        x = x + _map_to_tokens(self.cpe1(_tokens_to_map(x, hw)))
        shortcut = x
        x = self.norm1(x)
        gate = self.act(self.act_proj(x))
        x = _map_to_tokens(self.act(self.dwc(_tokens_to_map(self.in_proj(x), hw))))
        x = self.out_proj(self.attn(x, hw) * gate)
        x = shortcut + self.drop_path(x)
        x = x + _map_to_tokens(self.cpe2(_tokens_to_map(x, hw)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """Inverted-residual-style downsampling: 1×1 expand (8·dim), 3×3 s2 depthwise, 1×1 + BN."""

    def __init__(self, dim: int, pad_odd: bool, ratio: float = 4.0) -> None:
        super().__init__()
        self.pad_odd = pad_odd
        hidden, out = int(2 * dim * ratio), 2 * dim
        self.conv = nn.Sequential(
            ConvLayer(dim, hidden, 1, norm=False),
            ConvLayer(hidden, hidden, 3, stride=2, padding=1, groups=hidden, norm=False),
            ConvLayer(hidden, out, 1, act=False),
        )

    def forward(self, x: Tensor, hw: tuple[int, int]) -> tuple[Tensor, tuple[int, int]]:
        """Halve the map (pads odd sizes in the detection backbone): tokens and the new size."""
        x = _tokens_to_map(x, hw)
        if self.pad_odd and (hw[0] % 2 or hw[1] % 2):
            # Zero rows/columns before the 1×1 conv (its bias makes them non-zero after it),
            # exactly where the authors' detection backbone pads.
            x = F.pad(x, (0, hw[1] % 2, 0, hw[0] % 2))
        x = self.conv(x)
        return _map_to_tokens(x), (x.shape[2], x.shape[3])


class Stem(ConvStem):
    """The conv stem, returning tokens (B, H*W, C) and the token grid (H, W)."""

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:  # type: ignore[override]
        """The conv stem's map as tokens, with its size."""
        # Channels-last from the first conv on: oneDNN's convs run 1.5-3x faster on it here, and
        # the stem's map flattens to contiguous (B, N, C) tokens. An NCHW map would leave every
        # later token tensor a transposed view (elementwise ops keep their inputs' strides), so
        # each LayerNorm and Linear would copy it and each conv would run NCHW.
        x = super().forward(x.contiguous(memory_format=torch.channels_last))
        return _map_to_tokens(x), (x.shape[2], x.shape[3])


class BasicLayer(nn.Module):
    """One MLLA stage: its blocks (activation checkpointing optional) and its downsampling."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        qkv_bias: bool,
        drop: float,
        drop_path: Sequence[float],
        downsample: bool,
        dynamic_rope: bool,
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        self.use_checkpoint = use_checkpoint
        self.blocks = nn.ModuleList(
            MLLABlock(
                dim,
                input_resolution,
                num_heads,
                mlp_ratio,
                qkv_bias,
                drop,
                drop_path[i],
                dynamic_rope,
            )
            for i in range(depth)
        )
        self.downsample = PatchMerging(dim, pad_odd=dynamic_rope) if downsample else None

    def forward_blocks(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        """The stage's blocks alone (the backbone takes their output before downsampling)."""
        for blk in self.blocks:
            if self.use_checkpoint and x.requires_grad:
                x = activation_checkpoint.checkpoint(blk, x, hw, use_reentrant=False)
            else:
                x = blk(x, hw)
        return x


def _trunc_normal_init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def _as_pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    a, b = v
    return (int(a), int(b))


def _build_trunk(
    model: nn.Module,
    img_size: int | Sequence[int],
    patch_size: int,
    in_chans: int,
    embed_dim: int,
    depths: Sequence[int],
    num_heads: Sequence[int],
    mlp_ratio: float,
    qkv_bias: bool,
    drop_rate: float,
    drop_path_rate: float,
    ape: bool,
    use_checkpoint: bool,
    dynamic_rope: bool,
) -> None:
    """Add the stem and the four stages to `model` (classifier and backbone share this layout:
    `patch_embed.*`, `layers.{i}.blocks.{j}.*`, `layers.{i}.downsample.*`)."""
    if patch_size != 4:
        raise UserInputError(f"MLLA's stem downsamples by 4; patch_size={patch_size} given")
    if embed_dim % 4:
        raise UserInputError(f"MLLA's 2-D RoPE needs embed_dim % 4 == 0; got {embed_dim}")
    size = _as_pair(img_size)
    model.img_size = size
    model.patch_size = patch_size
    model.num_layers = len(depths)
    model.ape = ape
    model.patches_resolution = (size[0] // patch_size, size[1] // patch_size)
    model.patch_embed = Stem(in_chans, embed_dim)
    if ape:
        n_patches = model.patches_resolution[0] * model.patches_resolution[1]
        model.absolute_pos_embed = nn.Parameter(torch.zeros(1, n_patches, embed_dim))
        nn.init.trunc_normal_(model.absolute_pos_embed, std=0.02)
    model.pos_drop = nn.Dropout(drop_rate)
    dpr = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
    model.layers = nn.ModuleList()
    for i, (depth, heads) in enumerate(zip(depths, num_heads, strict=True)):
        start = sum(depths[:i])
        res = (model.patches_resolution[0] // 2**i, model.patches_resolution[1] // 2**i)
        model.layers.append(
            BasicLayer(
                embed_dim * 2**i,
                res,
                depth,
                heads,
                mlp_ratio,
                qkv_bias,
                drop_rate,
                dpr[start : start + depth],
                i < len(depths) - 1,
                dynamic_rope,
                use_checkpoint,
            )
        )


def _embed(model: nn.Module, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
    x, hw = model.patch_embed(x)
    if model.ape:
        x = x + model.absolute_pos_embed
    return model.pos_drop(x), hw


class MLLA(nn.Module):
    """The ImageNet classifier (models/mlla.py): 224×224 in, 1000 logits out."""

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        ape: bool = False,
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        _build_trunk(
            self,
            img_size,
            patch_size,
            in_chans,
            embed_dim,
            depths,
            num_heads,
            mlp_ratio,
            qkv_bias,
            drop_rate,
            drop_path_rate,
            ape,
            use_checkpoint,
            dynamic_rope=False,
        )
        self.num_features = embed_dim * 2 ** (self.num_layers - 1)
        self.norm = nn.LayerNorm(self.num_features)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(_trunc_normal_init)

    def forward_features(self, x: Tensor) -> Tensor:
        """The pooled, normed features of a 224x224 batch (other sizes: UserInputError)."""
        if tuple(x.shape[-2:]) != self.img_size:
            h, w = self.img_size
            raise UserInputError(
                f"the MLLA classifier takes {h}x{w} inputs (its RoPE tables are stored for that "
                f"size), got {x.shape[-2]}x{x.shape[-1]}: resize the image, or use the backbone"
            )
        x, hw = _embed(self, x)
        for layer in self.layers:
            x = layer.forward_blocks(x, hw)
            if layer.downsample is not None:
                x, hw = layer.downsample(x, hw)
        return self.norm(x).mean(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """ImageNet logits (B, 1000)."""
        return self.head(self.forward_features(x))


try:  # the backbone is an mmengine module so mmdet's init_weights walk and init_cfg work
    from mmengine.model import BaseModule as _BackboneBase
except ImportError:  # pragma: no cover - mmengine is a core dependency
    _BackboneBase = nn.Module  # type: ignore[assignment,misc]


class MLLABackbone(_BackboneBase):
    """The detection/segmentation backbone (downstream/*/backbones/mlla.py), mmdet type `MLLA`.

    Takes the authors' config kwargs as-is (`num_classes` and `qk_scale` are accepted and
    unused, as in their code; an unknown kwarg is an error rather than silently ignored).
    Returns a tuple of NCHW maps, one per `out_indices` entry.
    """

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        init_cfg: dict[str, Any] | None = None,
        ape: bool = False,
        use_checkpoint: bool = False,
        qk_scale: float | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        del num_classes, qk_scale  # in the authors' configs, unused by their code too
        self.out_indices = tuple(out_indices)
        self.num_features = [embed_dim * 2**i for i in range(len(depths))]
        # norm0..3 are created before the trunk, so they lead the state dict as in the authors'.
        for i in self.out_indices:
            self.add_module(f"norm{i}", nn.LayerNorm(self.num_features[i]))
        _build_trunk(
            self,
            img_size,
            patch_size,
            in_chans,
            embed_dim,
            depths,
            num_heads,
            mlp_ratio,
            qkv_bias,
            drop_rate,
            drop_path_rate,
            ape,
            use_checkpoint,
            dynamic_rope=True,
        )
        self.apply(_trunc_normal_init)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Four normed NCHW maps at strides 4, 8, 16, 32 (any input size; odd sizes padded)."""
        h, w = x.shape[-2:]
        p = self.patch_size
        if h % p or w % p:  # pad right/bottom to a multiple of the patch size, as the authors
            x = F.pad(x, (0, (p - w % p) % p, 0, (p - h % p) % p))
        x, hw = _embed(self, x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer.forward_blocks(x, hw)
            if i in self.out_indices:
                out = getattr(self, f"norm{i}")(x)
                outs.append(_tokens_to_map(out, hw).contiguous())
            if layer.downsample is not None:
                x, hw = layer.downsample(x, hw)
        return tuple(outs)

    def init_weights(self) -> None:
        """Load an ImageNet checkpoint given as `init_cfg=dict(type='Pretrained', ...)`.

        Like the authors' `init_weights`: the classifier checkpoints keep their weights under
        `model` (which mmengine's default Pretrained init would not find), and they are loaded
        non-strictly since the classifier has `norm`/`head` and lacks `norm0..3`.
        """
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get("type") == "Pretrained"):
            super().init_weights()
            return
        from mmengine.logging import print_log

        from vzoo.hub.loading import load_checkpoint

        # A local file, loaded by vzoo's one checkpoint loader (never runs pickled code); a URL
        # would go through mmengine's loader, which fully unpickles: download it first.
        if "://" in str(cfg["checkpoint"]):
            raise UserInputError(
                f"MLLA init_cfg checkpoint {cfg['checkpoint']}: give a local file (download it "
                "first, e.g. `vzoo download ROW` and `vzoo cache path ROW`)"
            )
        ckpt = load_checkpoint(cfg["checkpoint"])
        state = ckpt.get("state_dict", ckpt.get("model", ckpt))
        result = self.load_state_dict(state, strict=False)
        print_log(
            f"MLLA backbone from {cfg['checkpoint']}: missing keys {result.missing_keys}, "
            f"unexpected keys {result.unexpected_keys}",
            logger="current",
            level=logging.INFO,
        )
        self._is_init = True


def _arch(arch_id: str) -> MLLAConfig:
    if arch_id not in ARCHS:
        raise UserInputError(f"unknown MLLA arch '{arch_id}' (known: {', '.join(ARCHS)})")
    return ARCHS[arch_id]


def build_classifier(arch_id: str, **kwargs: Any) -> MLLA:
    """An MLLA classifier of `arch_id` (mlla-t/s/b); `kwargs` override its construction."""
    cfg = _arch(arch_id)
    params: dict[str, Any] = dict(
        embed_dim=cfg.embed_dim,
        depths=cfg.depths,
        num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio,
        drop_path_rate=cfg.drop_path_rate,
    )
    params.update(kwargs)
    return MLLA(**params)


def build_backbone(arch_id: str, **overrides: Any) -> MLLABackbone:
    """The backbone as the authors' Mask R-CNN configs build it (1x drop_path_rate 0.1)."""
    cfg = _arch(arch_id)
    params: dict[str, Any] = dict(
        img_size=224,
        patch_size=4,
        in_chans=3,
        num_classes=80,
        embed_dim=cfg.embed_dim,
        depths=cfg.depths,
        num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio,
        out_indices=(0, 1, 2, 3),
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.0,
        drop_path_rate=0.1,
        use_checkpoint=False,
    )
    params.update(overrides)
    return MLLABackbone(**params)


register_backbone("MLLA", MLLABackbone)

__all__ = [
    "ARCHS",
    "MLLA",
    "LinearAttention",
    "MLLABackbone",
    "MLLABlock",
    "MLLAConfig",
    "build_backbone",
    "build_classifier",
    "rope_angles",
]
