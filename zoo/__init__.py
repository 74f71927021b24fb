"""Our implementations of every backbone and head, checkpoint-exact and function-exact.

Public API:
- `build_classifier(arch_id, **kwargs)`: the ImageNet-1K model (B,3,H,W) -> logits (B,1000).
- `build_backbone(arch_id, **overrides)`: the detection/segmentation backbone as the authors'
  Mask R-CNN config builds it; forward returns a tuple of 4 NCHW feature maps.
- `list_archs()`: the arch ids.
- `map_mmdet2_keys(state_dict)`: mmdet-2 checkpoint keys -> ours (MLLA and Dual-Attn releases).

One model family per module (`zoo/<family>.py`); each declares its `CARD` (`vzoo.core.cards`),
exposes `build_classifier` and `build_backbone`, and registers its backbones in mmdet's (and
mmseg's) `MODELS` on import. Plugins add families through the `vzoo.families` entry points.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


def list_archs() -> list[str]:
    """Every arch id the family cards declare, sorted (what `build_classifier` accepts)."""
    from vzoo.core.cards import all_cards

    return sorted(a for card in all_cards() for a in card.archs)


def family_module(arch_id: str) -> ModuleType:
    """The module of the family whose card lists `arch_id` (imported: torch)."""
    from vzoo.core.cards import card_for_arch

    return importlib.import_module(card_for_arch(arch_id).module)


def build_classifier(arch_id: str, **kwargs: Any) -> nn.Module:
    """The ImageNet classifier of `arch_id`, built by its family's module (random init)."""
    return family_module(arch_id).build_classifier(arch_id, **kwargs)


def build_backbone(arch_id: str, **overrides: Any) -> nn.Module:
    """The detection/segmentation backbone of `arch_id` (4 feature maps out), random init."""
    return family_module(arch_id).build_backbone(arch_id, **overrides)


def map_mmdet2_keys(state_dict: dict[str, Any]) -> dict[str, Any]:
    """A detector state dict with mmdet-2 key names renamed to mmdet 3's."""
    from vzoo.zoo.mmdet2_keys import map_mmdet2_keys as _map

    return _map(state_dict)


__all__ = ["build_backbone", "build_classifier", "list_archs", "map_mmdet2_keys"]
