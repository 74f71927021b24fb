"""Checkpoint keys of detectors trained with mmdet 2.x -> the mmdet-3 models our configs build.

`map_mmdet2_keys(checkpoint)` takes a whole mmdet-2 checkpoint file's content (the
`{"meta": ..., "state_dict": ..., "optimizer": ...}` dict that mmcv 1.x `save_checkpoint`
writes) or its bare `state_dict`, and returns a new state dict (the input is not modified)
ready for `vzoo.zoo.checkpoint.load_state_dict_strict`.

The mapping is an ordered list of rule sets (`RULE_SETS`), one per detector family. Each rule
set is applied to every key in turn; within a set the first rule whose pattern matches the
whole key decides: it renames the key (a `re` replacement template), or drops it
(`replacement=None`). Keys that no rule of a set matches pass through that set unchanged.
Families are added by appending a `RuleSet` to `RULE_SETS`.

Mask R-CNN (MLLA's releases, mmdet 2.25): verified against mmdet 2.25 and mmdet 3.3 source
and by building mmdet 3.3's Mask R-CNN: every parameter and persistent buffer has the same
name and shape in both (FPN `ConvModule`s keep `.conv`, RPNHead's `rpn_conv/rpn_cls/rpn_reg`,
Shared2FCBBoxHead's `shared_fcs/fc_cls/fc_reg`, FCNMaskHead's `convs.i.conv/upsample/
conv_logits`; RoIAlign extractors and the losses have no state; mmdet 3's data preprocessor
mean/std buffers are not persistent). So its rule set only keeps keys, and exists to record
that this was checked, key group by key group.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vzoo.core.errors import VzooError


@dataclass(frozen=True)
class KeyRule:
    """Rename keys that fully match `pattern` to `replacement` (None: drop them)."""

    pattern: str
    replacement: str | None
    why: str

    def apply(self, key: str) -> tuple[bool, str | None]:
        match = re.fullmatch(self.pattern, key)
        if match is None:
            return False, key
        return True, None if self.replacement is None else match.expand(self.replacement)


@dataclass(frozen=True)
class RuleSet:
    name: str
    rules: tuple[KeyRule, ...]

    def covers(self, key: str) -> bool:
        """Whether a rule of this set speaks for `key` (a key it does not cover passes as is)."""
        return any(re.fullmatch(rule.pattern, key) for rule in self.rules)

    def map_key(self, key: str) -> str | None:
        for rule in self.rules:
            matched, new_key = rule.apply(key)
            if matched:
                return new_key
        return key


_KEEP = r"\g<0>"

MASK_RCNN_FPN = RuleSet(
    "mask-rcnn-fpn (mmdet 2.25 -> 3.3)",
    (
        KeyRule(
            r"backbone\..+",
            _KEEP,
            "our backbones reproduce the authors' module names exactly",
        ),
        KeyRule(
            r"neck\.(lateral|fpn)_convs\.\d+\.conv\.(weight|bias)",
            _KEEP,
            "FPN: ConvModule `.conv` in both versions (no norm in Mask R-CNN's FPN)",
        ),
        KeyRule(
            r"rpn_head\.rpn_(conv|cls|reg)\.(weight|bias)",
            _KEEP,
            "RPNHead: plain Conv2d attributes unchanged; rpn_cls has 1 sigmoid class in both",
        ),
        KeyRule(
            r"roi_head\.bbox_head\.(shared_fcs\.\d+|fc_cls|fc_reg)\.(weight|bias)",
            _KEEP,
            "Shared2FCBBoxHead: Linear attributes unchanged (fc_cls 81, class-specific fc_reg)",
        ),
        KeyRule(
            r"roi_head\.mask_head\.(convs\.\d+\.conv|upsample|conv_logits)\.(weight|bias)",
            _KEEP,
            "FCNMaskHead: ConvModule convs, ConvTranspose2d upsample, 1x1 logits unchanged",
        ),
    ),
)

# ---------------------------------------------------------------------------------------------
# mmdet-2 checkpoint keys -> ours.
#
# Sparse R-CNN (OpenMMLab, mmdet v2.0 checkpoint of 2020-12-22): mmdet 2.x DIIHead has
# attention.attn.{in_proj_weight,in_proj_bias,out_proj.*} (nn.MultiheadAttention inside the
# MultiheadAttention wrapper), attention_norm, instance_interactive_conv.{dynamic_layer,norm_in,
# norm_out,fc_layer,fc_norm} (DynamicConv), instance_interactive_conv_norm, ffn.layers.0.0 /
# ffn.layers.1 (FFN: Sequential(Linear, act, Dropout), Linear), ffn_norm, cls_fcs.{0,1},
# reg_fcs.{0,1,3,4,6,7} (Linear no bias, LN, ReLU), fc_cls, fc_reg; EmbeddingRPNHead
# init_proposal_{bboxes,features}; FPN ConvModule `.conv`; ResNet as in mmdet 3. mmdet 3.3
# builds exactly these names and shapes, so for the baseline every rule keeps the key.
# ---------------------------------------------------------------------------------------------

_STAGE = r"roi_head\.bbox_head\.(\d+)\."
_AFFINE = r"(weight|bias)"

_SPARSE_RCNN_RULES: list[tuple[str, str, str]] = [
    (r"backbone\..+", _KEEP, "mmdet ResNet-50: same module tree in mmdet 2.x and 3.x"),
    (r"neck\.(lateral|fpn)_convs\.\d+\.conv\.(weight|bias)", _KEEP, "FPN ConvModule, no norm"),
    (
        r"rpn_head\.init_proposal_(bboxes|features)\.weight",
        _KEEP,
        "EmbeddingRPNHead embeddings",
    ),
    # --- Dual-Attn head (authors' nn.Sequential indices -> our named layers) ---
    (
        _STAGE + r"p_attention\.(.+)",
        r"roi_head.bbox_head.\1.proposal_attn.\2",
        "proposal self-attention (mmcv MultiheadAttention, same inner names)",
    ),
    (
        _STAGE + r"p_attention_norm\." + _AFFINE,
        r"roi_head.bbox_head.\1.proposal_attn_norm.\2",
        "LN after the proposal self-attention",
    ),
    (
        _STAGE + r"dym_ch_attn_params\.(\d+)\.0\." + _AFFINE,
        r"roi_head.bbox_head.\1.cbam.\2.channel_fc.\3",
        "dynamic CBAM: Sequential(Linear C->C, LN)[0]",
    ),
    (
        _STAGE + r"dym_ch_attn_params\.(\d+)\.1\." + _AFFINE,
        r"roi_head.bbox_head.\1.cbam.\2.channel_norm.\3",
        "dynamic CBAM: Sequential(Linear C->C, LN)[1]",
    ),
    (
        _STAGE + r"dym_sp_attn_params\.(\d+)\.0\." + _AFFINE,
        r"roi_head.bbox_head.\1.cbam.\2.spatial_fc.\3",
        "dynamic CBAM: Sequential(Linear C->S*S, LN)[0]",
    ),
    (
        _STAGE + r"dym_sp_attn_params\.(\d+)\.1\." + _AFFINE,
        r"roi_head.bbox_head.\1.cbam.\2.spatial_norm.\3",
        "dynamic CBAM: Sequential(Linear C->S*S, LN)[1]",
    ),
    (
        _STAGE + r"ch_attn_ffn\.(\d+)\.0\.(.+)",
        r"roi_head.bbox_head.\1.cbam.\2.channel_mlp.\3",
        "static CBAM (dynamic_cbam=False): Sequential(FFN, LN((2, C)))[0]",
    ),
    (
        _STAGE + r"ch_attn_ffn\.(\d+)\.1\." + _AFFINE,
        r"roi_head.bbox_head.\1.cbam.\2.channel_norm.\3",
        "static CBAM (dynamic_cbam=False): Sequential(FFN, LN((2, C)))[1]",
    ),
    (
        _STAGE + r"sp_attn_conv\.(\d+)\." + _AFFINE,
        r"roi_head.bbox_head.\1.cbam.\2.spatial_conv.\3",
        "static CBAM (dynamic_cbam=False): 3x3 conv on [mean, max] maps",
    ),
    (
        _STAGE + r"roi_transformer\.(\d+)\.0\.(.+)",
        r"roi_head.bbox_head.\1.roi_transformer.\2.attn.\3",
        "RoI transformer layer: Sequential(MHA, LN, FFN, LN)[0]",
    ),
    (
        _STAGE + r"roi_transformer\.(\d+)\.1\." + _AFFINE,
        r"roi_head.bbox_head.\1.roi_transformer.\2.attn_norm.\3",
        "RoI transformer layer: Sequential(MHA, LN, FFN, LN)[1]",
    ),
    (
        _STAGE + r"roi_transformer\.(\d+)\.2\.(.+)",
        r"roi_head.bbox_head.\1.roi_transformer.\2.ffn.\3",
        "RoI transformer layer: Sequential(MHA, LN, FFN, LN)[2]",
    ),
    (
        _STAGE + r"roi_transformer\.(\d+)\.3\." + _AFFINE,
        r"roi_head.bbox_head.\1.roi_transformer.\2.ffn_norm.\3",
        "RoI transformer layer: Sequential(MHA, LN, FFN, LN)[3]",
    ),
    (
        _STAGE + r"roi_attn_proj\.0\." + _AFFINE,
        r"roi_head.bbox_head.\1.roi_fuse_fc.\2",
        "branch fusion: Sequential(Linear C*S*S->C, LN)[0]",
    ),
    (
        _STAGE + r"roi_attn_proj\.1\." + _AFFINE,
        r"roi_head.bbox_head.\1.roi_fuse_norm.\2",
        "branch fusion: Sequential(Linear C*S*S->C, LN)[1]",
    ),
    (_STAGE + r"obj_norm\." + _AFFINE, _KEEP, "Dual-Attn: LN of proposal + fused RoI feature"),
    # --- DIIHead (Sparse R-CNN) layers ---
    (_STAGE + r"attention\.attn\.(in_proj_(weight|bias)|out_proj\.(weight|bias))", _KEEP, "DII"),
    (_STAGE + r"attention_norm\." + _AFFINE, _KEEP, "DIIHead"),
    (
        _STAGE + r"self_attention(\.attn\..+|_norm\..+)",
        r"roi_head.bbox_head.\1.attention\2",
        "DIIHead as first written for mmdet 2 (pre-release `self_attention` naming)",
    ),
    (
        _STAGE
        + r"instance_interactive_conv\.(dynamic_layer|norm_in|norm_out|fc_layer|fc_norm)\."
        + _AFFINE,
        _KEEP,
        "DIIHead DynamicConv",
    ),
    (_STAGE + r"instance_interactive_conv_norm\." + _AFFINE, _KEEP, "DIIHead"),
    # --- shared by both heads ---
    (
        _STAGE + r"ffn\.layers\.(0\.0|1)\." + _AFFINE,
        _KEEP,
        "FFN: Sequential(Linear, act, drop), Linear",
    ),
    (_STAGE + r"ffn_norm\." + _AFFINE, _KEEP, "LN after the FFN"),
    (_STAGE + r"(cls|reg)_fcs\.\d+\." + _AFFINE, _KEEP, "cls/reg towers (Linear, LN, ReLU)*"),
    (_STAGE + r"fc_(cls|reg)\." + _AFFINE, _KEEP, "per-proposal predictors"),
]

SPARSE_RCNN = RuleSet(
    "sparse-rcnn / dual-attn sparse r-cnn (mmdet 2.x -> 3.3)",
    tuple(KeyRule(p, r, why) for p, r, why in _SPARSE_RCNN_RULES),
)

# Applied in this order; per-stage Sparse R-CNN patterns (`bbox_head.<digit>.`) never match a
# Mask R-CNN key, and Mask R-CNN's never match a Sparse R-CNN head key.
RULE_SETS: list[RuleSet] = [MASK_RCNN_FPN, SPARSE_RCNN]


def unwrap_checkpoint(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    """The state dict inside an mmdet-2 checkpoint file (its `meta`/`optimizer` are dropped)."""
    inner = checkpoint.get("state_dict")
    return inner if isinstance(inner, Mapping) else checkpoint


def map_mmdet2_keys(
    checkpoint: Mapping[str, Any], rule_sets: Sequence[RuleSet] | None = None
) -> dict[str, Any]:
    """mmdet-2 checkpoint (whole file content or bare state dict) -> mmdet-3 state dict."""
    state = unwrap_checkpoint(checkpoint)
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in state.items():
        new_key: str | None = key
        for rule_set in RULE_SETS if rule_sets is None else rule_sets:
            new_key = rule_set.map_key(new_key)
            if new_key is None:
                break
        if new_key is None:
            continue
        if new_key in out:
            raise VzooError(
                f"mmdet-2 key mapping sends both '{origin[new_key]}' and '{key}' to "
                f"'{new_key}': a rule in vzoo/zoo/mmdet2_keys.py is wrong"
            )
        out[new_key], origin[new_key] = value, key
    return out


__all__ = [
    "MASK_RCNN_FPN",
    "RULE_SETS",
    "SPARSE_RCNN",
    "KeyRule",
    "RuleSet",
    "map_mmdet2_keys",
    "unwrap_checkpoint",
]
