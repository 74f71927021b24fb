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

# Appended to by other detector families (e.g. Sparse R-CNN); applied in this order.
RULE_SETS: list[RuleSet] = [MASK_RCNN_FPN]


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
    "KeyRule",
    "RuleSet",
    "map_mmdet2_keys",
    "unwrap_checkpoint",
]
