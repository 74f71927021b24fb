"""Checkpoint keys of detectors trained with mmdet 2.x -> the mmdet-3 models our configs build.

`map_mmdet2_keys(checkpoint)` takes a whole mmdet-2 checkpoint file's content (the
`{"meta": ..., "state_dict": ..., "optimizer": ...}` dict that mmcv 1.x `save_checkpoint`
writes) or its bare `state_dict`, and returns a new state dict (the input is not modified)
ready for `vzoo.zoo.checkpoint.load_state_dict_strict`.

The mapping is an ordered list of rule sets (`RULE_SETS`), one per detector family. Each rule
set is applied to every key in turn; within a set the first rule whose pattern matches the
whole key decides: it renames the key (a `re` replacement template), or drops it
(`replacement=None`). Keys that no rule of a set matches pass through that set unchanged.
A family whose heads are its own declares a `RuleSet` on its card (`checkpoint_key_rules`).

Mask R-CNN (the mmdet 2.25 releases): verified against mmdet 2.25 and mmdet 3.3 source
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
        """(whether the rule matches `key`, the renamed key or None to drop it)."""
        match = re.fullmatch(self.pattern, key)
        if match is None:
            return False, key
        return True, None if self.replacement is None else match.expand(self.replacement)


@dataclass(frozen=True)
class RuleSet:
    """A named set of key-renaming rules, the first matching rule deciding."""

    name: str
    rules: tuple[KeyRule, ...]

    def covers(self, key: str) -> bool:
        """Whether a rule of this set speaks for `key` (a key it does not cover passes as is)."""
        return any(re.fullmatch(rule.pattern, key) for rule in self.rules)

    def map_key(self, key: str) -> str | None:
        """The key renamed by the first rule that matches it (None: dropped; unmatched: as is)."""
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
    "sparse-rcnn (mmdet 2.x -> 3.3)",
    tuple(KeyRule(p, r, why) for p, r, why in _SPARSE_RCNN_RULES),
)

# Applied in this order; per-stage Sparse R-CNN patterns (`bbox_head.<digit>.`) never match a
# Mask R-CNN key, and Mask R-CNN's never match a Sparse R-CNN head key. A family whose heads
# differ from mmdet's declares its own rule set on its card (`checkpoint_key_rules`), applied
# after these (`default_rule_sets`).
RULE_SETS: list[RuleSet] = [MASK_RCNN_FPN, SPARSE_RCNN]
STAGE, AFFINE, KEEP = _STAGE, _AFFINE, _KEEP  # for families' rules


def default_rule_sets() -> list[RuleSet]:
    """mmdet's own rule sets, then every family card's (importing the families that have one)."""
    import importlib

    from vzoo.core.cards import all_cards

    extra = []
    for card in all_cards():
        if card.checkpoint_key_rules:
            module, _, attr = card.checkpoint_key_rules.partition(":")
            extra.append(getattr(importlib.import_module(module), attr))
    return [*RULE_SETS, *extra]


def unwrap_checkpoint(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    """The state dict inside an mmdet-2 checkpoint file (its `meta`/`optimizer` are dropped)."""
    inner = checkpoint.get("state_dict")
    return inner if isinstance(inner, Mapping) else checkpoint


def map_mmdet2_keys(
    checkpoint: Mapping[str, Any], rule_sets: Sequence[RuleSet] | None = None
) -> dict[str, Any]:
    """mmdet-2 checkpoint (whole file content or bare state dict) -> mmdet-3 state dict."""
    state = unwrap_checkpoint(checkpoint)
    sets = default_rule_sets() if rule_sets is None else rule_sets
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in state.items():
        new_key: str | None = key
        for rule_set in sets:
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
    "default_rule_sets",
    "map_mmdet2_keys",
    "unwrap_checkpoint",
]
