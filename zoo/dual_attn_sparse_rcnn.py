"""Dual-Attention Sparse R-CNN (single RoI transformer + dynamic CBAM) on mmdet 3.

The authors (sangwooP/dual_attn_sparse_rcnn, mmdet 2.x) replace Sparse R-CNN's `DIIHead`
(proposal self-attention + dynamic instance-interactive conv) by `DualAttnHead`: after the
proposal self-attention, each proposal's 5x5 RoI feature goes through two branches

- dynamic CBAM: channel and spatial gates *generated from the proposal feature*
  (sigmoid(LN(Linear(p)))), applied to the RoI feature with a residual;
- a small post-norm transformer over the 25 RoI positions (queries/keys carry a 2-D sine
  position code plus the proposal feature);

the two flattened branch outputs are summed, projected to the proposal width, and added to
the proposal feature, then the usual FFN and cls/reg towers follow (as in DIIHead). Losses,
targets and box refinement are DIIHead's, so `DualAttnHead` subclasses mmdet 3's `DIIHead`
but builds its own layers.

Importing this module registers `DualAttnHead` in mmdet's `MODELS` (the only type the authors
add; their fork's FPN, EmbeddingRPNHead and SparseRoIHead are upstream's).

Checkpoints: our module names differ from the authors' (they index `nn.Sequential`s);
mmdet-2 checkpoints of both Dual-Attn Sparse R-CNN and the OpenMMLab Sparse R-CNN baseline load
after `vzoo.zoo.map_mmdet2_keys` (mmdet's `SPARSE_RCNN` rules, then `MMDET2_KEY_RULES` below).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from mmcv.cnn import build_activation_layer
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmdet.models.roi_heads.bbox_heads.bbox_head import BBoxHead
from mmdet.models.roi_heads.bbox_heads.dii_head import DIIHead
from mmdet.registry import MODELS
from torch import Tensor, nn

from vzoo.core.cards import Convention, FamilyCard, Method
from vzoo.core.errors import UserInputError
from vzoo.zoo.mmdet2_keys import AFFINE, KEEP, STAGE, KeyRule, RuleSet

CARD = FamilyCard(
    name="sparse-rcnn",
    label="Sparse R-CNN",
    module="vzoo.zoo.dual_attn_sparse_rcnn",
    methods=(
        Method(
            "dual-attn-sparse-rcnn",
            "detection",
            ("bbox",),
            label="Dual-Attention Sparse R-CNN",
            framework="sparse-rcnn",
        ),
    ),
    checkpoint_keys="mmdet2",  # released with mmdet 2.x
    checkpoint_key_rules="vzoo.zoo.dual_attn_sparse_rcnn:MMDET2_KEY_RULES",
    flops={
        "detection": Convention(
            name="mmdet-trainable",
            count_scan=False,
            sasf="none",
            params="trainable",
            bn_training=False,
            how=(
                "mmdet get_flops prints the TRAINABLE parameter count (frozen "
                "stem/stage 1 left out)"
            ),
            source="../shared/reference/dual-attn-sparse-rcnn-r50.json notes",
        ),
    },
    registers=("DualAttnHead",),
    color="#E69F00",  # Okabe-Ito
    marker="v",
)

__all__ = [
    "DualAttnHead",
    "DynamicCBAM",
    "RoITransformerLayer",
    "StaticCBAM",
    "sine_position_code",
]


# The authors' mmdet-2 checkpoint names the head's layers by nn.Sequential indices: our names.
# Applied after mmdet's own Sparse R-CNN rules (`vzoo.zoo.mmdet2_keys`), which cover the rest.
_MMDET2_HEAD_RULES: list[tuple[str, str, str]] = [
    (
        STAGE + r"p_attention\.(.+)",
        r"roi_head.bbox_head.\1.proposal_attn.\2",
        "proposal self-attention (mmcv MultiheadAttention, same inner names)",
    ),
    (
        STAGE + r"p_attention_norm\." + AFFINE,
        r"roi_head.bbox_head.\1.proposal_attn_norm.\2",
        "LN after the proposal self-attention",
    ),
    (
        STAGE + r"dym_ch_attn_params\.(\d+)\.0\." + AFFINE,
        r"roi_head.bbox_head.\1.cbam.\2.channel_fc.\3",
        "dynamic CBAM: Sequential(Linear C->C, LN)[0]",
    ),
    (
        STAGE + r"dym_ch_attn_params\.(\d+)\.1\." + AFFINE,
        r"roi_head.bbox_head.\1.cbam.\2.channel_norm.\3",
        "dynamic CBAM: Sequential(Linear C->C, LN)[1]",
    ),
    (
        STAGE + r"dym_sp_attn_params\.(\d+)\.0\." + AFFINE,
        r"roi_head.bbox_head.\1.cbam.\2.spatial_fc.\3",
        "dynamic CBAM: Sequential(Linear C->S*S, LN)[0]",
    ),
    (
        STAGE + r"dym_sp_attn_params\.(\d+)\.1\." + AFFINE,
        r"roi_head.bbox_head.\1.cbam.\2.spatial_norm.\3",
        "dynamic CBAM: Sequential(Linear C->S*S, LN)[1]",
    ),
    (
        STAGE + r"ch_attn_ffn\.(\d+)\.0\.(.+)",
        r"roi_head.bbox_head.\1.cbam.\2.channel_mlp.\3",
        "static CBAM (dynamic_cbam=False): Sequential(FFN, LN((2, C)))[0]",
    ),
    (
        STAGE + r"ch_attn_ffn\.(\d+)\.1\." + AFFINE,
        r"roi_head.bbox_head.\1.cbam.\2.channel_norm.\3",
        "static CBAM (dynamic_cbam=False): Sequential(FFN, LN((2, C)))[1]",
    ),
    (
        STAGE + r"sp_attn_conv\.(\d+)\." + AFFINE,
        r"roi_head.bbox_head.\1.cbam.\2.spatial_conv.\3",
        "static CBAM (dynamic_cbam=False): 3x3 conv on [mean, max] maps",
    ),
    (
        STAGE + r"roi_transformer\.(\d+)\.0\.(.+)",
        r"roi_head.bbox_head.\1.roi_transformer.\2.attn.\3",
        "RoI transformer layer: Sequential(MHA, LN, FFN, LN)[0]",
    ),
    (
        STAGE + r"roi_transformer\.(\d+)\.1\." + AFFINE,
        r"roi_head.bbox_head.\1.roi_transformer.\2.attn_norm.\3",
        "RoI transformer layer: Sequential(MHA, LN, FFN, LN)[1]",
    ),
    (
        STAGE + r"roi_transformer\.(\d+)\.2\.(.+)",
        r"roi_head.bbox_head.\1.roi_transformer.\2.ffn.\3",
        "RoI transformer layer: Sequential(MHA, LN, FFN, LN)[2]",
    ),
    (
        STAGE + r"roi_transformer\.(\d+)\.3\." + AFFINE,
        r"roi_head.bbox_head.\1.roi_transformer.\2.ffn_norm.\3",
        "RoI transformer layer: Sequential(MHA, LN, FFN, LN)[3]",
    ),
    (
        STAGE + r"roi_attn_proj\.0\." + AFFINE,
        r"roi_head.bbox_head.\1.roi_fuse_fc.\2",
        "branch fusion: Sequential(Linear C*S*S->C, LN)[0]",
    ),
    (
        STAGE + r"roi_attn_proj\.1\." + AFFINE,
        r"roi_head.bbox_head.\1.roi_fuse_norm.\2",
        "branch fusion: Sequential(Linear C*S*S->C, LN)[1]",
    ),
    (STAGE + r"obj_norm\." + AFFINE, KEEP, "Dual-Attn: LN of proposal + fused RoI feature"),
]
MMDET2_KEY_RULES = RuleSet(
    "dual-attn head (mmdet 2.x -> 3.3)",
    tuple(KeyRule(p, r, why) for p, r, why in _MMDET2_HEAD_RULES),
)


def sine_position_code(
    size: int,
    num_feats: int,
    *,
    temperature: float = 10000.0,
    scale: float = 2 * math.pi,
    eps: float = 1e-6,
    offset: float = 0.0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | None = None,
) -> Tensor:
    """DETR's normalised 2-D sine code of an unpadded size x size grid: (2*num_feats, size**2).

    Channels [0, num_feats) encode the row, [num_feats, 2*num_feats) the column, each as
    interleaved sin/cos pairs. Same values as mmdet's `SinePositionalEncoding(normalize=True)`
    on an all-valid mask, but computed in `dtype` (mmdet always computes it in float32).
    """
    steps = torch.arange(1, size + 1, dtype=dtype, device=device)
    steps = (steps + offset) / (steps[-1] + eps) * scale
    exponent = 2 * torch.div(torch.arange(num_feats, device=device), 2, rounding_mode="floor")
    freqs = temperature ** (exponent.to(dtype) / num_feats)
    angles = steps[:, None] / freqs  # (size, num_feats)
    code = torch.stack((angles[:, 0::2].sin(), angles[:, 1::2].cos()), dim=2).flatten(1)
    rows = code[:, None, :].expand(size, size, num_feats)
    cols = code[None, :, :].expand(size, size, num_feats)
    return torch.cat((rows, cols), dim=2).reshape(size * size, 2 * num_feats).t()


class DynamicCBAM(nn.Module):
    """CBAM whose channel (C) and spatial (S*S) gates are predicted from the proposal feature."""

    def __init__(self, channels: int, roi_size: int) -> None:
        super().__init__()
        self.channel_fc = nn.Linear(channels, channels)
        self.channel_norm = nn.LayerNorm(channels)
        self.spatial_fc = nn.Linear(channels, roi_size * roi_size)
        self.spatial_norm = nn.LayerNorm(roi_size * roi_size)

    def forward(self, roi: Tensor, proposal: Tensor) -> Tensor:
        """roi (R, C, S, S), proposal (R, C) -> roi + roi * channel gate * spatial gate."""
        n, _, h, w = roi.shape
        channel_gate = self.channel_norm(self.channel_fc(proposal)).sigmoid()
        spatial_gate = self.spatial_norm(self.spatial_fc(proposal)).sigmoid()
        gated = roi * channel_gate[:, :, None, None] * spatial_gate.view(n, 1, h, w)
        return roi + gated


class StaticCBAM(nn.Module):
    """Plain CBAM (the authors' `dynamic_cbam=False` variant): gates computed from the RoI itself.

    Channel gate: avg- and max-pooled descriptors through one shared FFN, a LayerNorm over
    both (2, C) rows, summed, sigmoid. Spatial gate: a 3x3 conv over the channel-mean and
    channel-max maps, sigmoid.
    """

    def __init__(self, channels: int, feedforward_channels: int) -> None:
        super().__init__()
        self.channel_mlp = FFN(channels, feedforward_channels, 2, ffn_drop=0.0, add_identity=False)
        self.channel_norm = nn.LayerNorm((2, channels))
        self.spatial_conv = nn.Conv2d(2, 1, kernel_size=3, padding=1)

    def forward(self, roi: Tensor, proposal: Tensor | None = None) -> Tensor:
        """CBAM on each RoI feature (R, C, S, S): channel then spatial gate, added to the RoI."""
        pooled = torch.stack((roi.mean(dim=(2, 3)), roi.amax(dim=(2, 3))), dim=1)  # (R, 2, C)
        channel_gate = self.channel_norm(self.channel_mlp(pooled)).sum(1).sigmoid()
        x = roi * channel_gate[:, :, None, None]
        maps = torch.stack((x.mean(1), x.amax(1)), dim=1)  # (R, 2, S, S)
        return roi + x * self.spatial_conv(maps).sigmoid()


class RoITransformerLayer(nn.Module):
    """Post-norm encoder layer over the RoI positions (sequence-first, like mmcv's attention).

    Positions enter queries and keys only; the values are the bare features.
    """

    def __init__(
        self,
        channels: int,
        num_heads: int,
        feedforward_channels: int,
        num_ffn_fcs: int,
        ffn_act_cfg: Mapping[str, Any],
        dropout: float,
    ) -> None:
        super().__init__()
        self.attn = MultiheadAttention(channels, num_heads, attn_drop=dropout)
        self.attn_norm = nn.LayerNorm(channels)
        self.ffn = FFN(
            channels, feedforward_channels, num_ffn_fcs, act_cfg=dict(ffn_act_cfg), ffn_drop=dropout
        )
        self.ffn_norm = nn.LayerNorm(channels)

    def forward(self, x: Tensor, pos: Tensor) -> Tensor:
        """x, pos: (S*S, R, C)."""
        x = self.attn_norm(self.attn(query=x, query_pos=pos))
        return self.ffn_norm(self.ffn(x))


@MODELS.register_module()
class DualAttnHead(DIIHead):
    """Sparse R-CNN stage head with a single RoI transformer and a dynamic CBAM.

    Arguments follow the authors' `DualAttnHead` (so their config builds it unchanged).
    `roi_size` must equal the RoI extractor's output size. `roi_ffn_channels` is the hidden
    width of the RoI-transformer FFNs: the authors hard-code 2048 (NOT `feedforward_channels`);
    it is exposed only to study the published parameter count. `num_proposal` is accepted and
    unused, as in the authors' code.
    """

    def __init__(
        self,
        num_classes: int = 80,
        num_proposal: int = 100,
        roi_size: int = 7,
        num_roi_cbamlayer: int = 6,
        dynamic_cbam: bool = True,
        num_roi_trlayer: int = 6,
        num_ffn_fcs: int = 2,
        num_heads: int = 8,
        num_cls_fcs: int = 1,
        num_reg_fcs: int = 3,
        feedforward_channels: int = 2048,
        in_channels: int = 256,
        dropout: float = 0.0,
        ffn_act_cfg: Mapping[str, Any] = dict(type="ReLU", inplace=True),
        loss_iou: Mapping[str, Any] = dict(type="GIoULoss", loss_weight=2.0),
        positional_encoding: Mapping[str, Any] = dict(
            type="SinePositionalEncoding", num_feats=128, normalize=True
        ),
        roi_ffn_channels: int = 2048,
        init_cfg: Any = None,
        **kwargs: Any,
    ) -> None:
        if init_cfg is not None:
            raise UserInputError("DualAttnHead: init_cfg must be None (it initialises itself)")
        # DIIHead's losses, targets and init are reused; its layers are not, so skip its
        # __init__ and let BBoxHead set up the coder and the losses.
        BBoxHead.__init__(
            self,
            num_classes=num_classes,
            reg_decoded_bbox=True,
            reg_class_agnostic=True,
            init_cfg=init_cfg,
            **kwargs,
        )
        self.loss_iou = MODELS.build(dict(loss_iou))
        self.in_channels = in_channels
        self.roi_size = roi_size
        self.num_proposal = num_proposal
        self.fp16_enabled = False
        self._position_code_args = self._check_position_cfg(dict(positional_encoding), in_channels)

        # `dropout` is attention dropout only, as the authors' positional argument is.
        self.proposal_attn = MultiheadAttention(in_channels, num_heads, attn_drop=dropout)
        self.proposal_attn_norm = nn.LayerNorm(in_channels)

        self.cbam = nn.ModuleList(
            DynamicCBAM(in_channels, roi_size)
            if dynamic_cbam
            else StaticCBAM(in_channels, feedforward_channels)
            for _ in range(num_roi_cbamlayer)
        )
        self.dynamic_cbam = dynamic_cbam
        self.roi_transformer = nn.ModuleList(
            RoITransformerLayer(
                in_channels, num_heads, roi_ffn_channels, num_ffn_fcs, ffn_act_cfg, dropout
            )
            for _ in range(num_roi_trlayer)
        )
        self.roi_fuse_fc = nn.Linear(in_channels * roi_size * roi_size, in_channels)
        self.roi_fuse_norm = nn.LayerNorm(in_channels)
        self.obj_norm = nn.LayerNorm(in_channels)

        self.ffn = FFN(
            in_channels,
            feedforward_channels,
            num_ffn_fcs,
            act_cfg=dict(ffn_act_cfg),
            ffn_drop=dropout,
        )
        self.ffn_norm = nn.LayerNorm(in_channels)
        self.cls_fcs = self._tower(num_cls_fcs, in_channels)
        self.reg_fcs = self._tower(num_reg_fcs, in_channels)
        cls_out = self.num_classes if self.loss_cls.use_sigmoid else self.num_classes + 1
        # Replace BBoxHead's RoI-sized predictors by per-proposal ones.
        self.fc_cls = nn.Linear(in_channels, cls_out)
        self.fc_reg = nn.Linear(in_channels, 4)

    @staticmethod
    def _tower(depth: int, channels: int) -> nn.ModuleList:
        layers = nn.ModuleList()
        for _ in range(depth):
            layers.append(nn.Linear(channels, channels, bias=False))
            layers.append(nn.LayerNorm(channels))
            layers.append(build_activation_layer(dict(type="ReLU", inplace=True)))
        return layers

    @staticmethod
    def _check_position_cfg(cfg: dict[str, Any], channels: int) -> dict[str, float]:
        kind = cfg.pop("type", "SinePositionalEncoding")
        num_feats = cfg.pop("num_feats", 128)
        normalize = cfg.pop("normalize", False)
        if kind != "SinePositionalEncoding" or not normalize or 2 * num_feats != channels:
            raise UserInputError(
                "DualAttnHead: positional_encoding must be SinePositionalEncoding with "
                f"normalize=True and num_feats={channels // 2} (got {kind}, normalize={normalize}, "
                f"num_feats={num_feats})"
            )
        known = {"temperature", "scale", "eps", "offset"}
        if set(cfg) - known:
            raise UserInputError(
                f"DualAttnHead: unknown positional_encoding keys {set(cfg) - known}"
            )
        return {k: float(v) for k, v in cfg.items()}

    def forward(self, roi_feat: Tensor, proposal_feat: Tensor) -> tuple[Tensor, ...]:
        """roi_feat (N*P, C, S, S), proposal_feat (N, P, C).

        Returns cls_score (N, P, K), bbox_delta (N, P, 4), obj_feat (N, P, C) and, as mmdet 3's
        DIIHead does, the proposal self-attention features (N, P, C) as `attn_feats` (only a
        QueryInst-style mask head would read them; the authors' 4th output is obj_feat
        flattened, which no box-only path uses).
        """
        n, p, c = proposal_feat.shape
        s = roi_feat.shape[-1]
        if s != self.roi_size or roi_feat.shape[-2] != s:
            raise UserInputError(
                f"DualAttnHead: RoI features are {tuple(roi_feat.shape[-2:])} but roi_size="
                f"{self.roi_size}; set the RoI extractor's output_size to roi_size"
            )
        attn = self.proposal_attn_norm(self.proposal_attn(proposal_feat.transpose(0, 1)))
        attn_feats = attn.transpose(0, 1)
        prop = attn_feats.reshape(n * p, c)

        gated = roi_feat
        for cbam in self.cbam:
            gated = cbam(gated, prop)

        grid = sine_position_code(
            s, c // 2, dtype=roi_feat.dtype, device=roi_feat.device, **self._position_code_args
        )
        pos = (grid[None] + prop[:, :, None]).permute(2, 0, 1)  # (S*S, N*P, C)
        tokens = roi_feat.flatten(2).permute(2, 0, 1)
        for layer in self.roi_transformer:
            tokens = layer(tokens, pos)
        # Both branches flattened channel-major (C * S*S) before they are summed.
        roi_out = tokens.permute(1, 2, 0).reshape(n * p, -1) + gated.reshape(n * p, -1)
        fused = self.roi_fuse_norm(self.roi_fuse_fc(roi_out))

        obj_feat = self.ffn_norm(self.ffn(self.obj_norm(prop + fused)))
        cls_feat = obj_feat
        for layer in self.cls_fcs:
            cls_feat = layer(cls_feat)
        reg_feat = obj_feat
        for layer in self.reg_fcs:
            reg_feat = layer(reg_feat)
        cls_score = self.fc_cls(cls_feat).view(n, p, -1)
        bbox_delta = self.fc_reg(reg_feat).view(n, p, 4)
        return cls_score, bbox_delta, obj_feat.view(n, p, c), attn_feats
