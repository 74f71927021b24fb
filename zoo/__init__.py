"""Our implementations of every backbone and head, checkpoint-exact and function-exact.

Public API:
- `build_classifier(arch_id, **kwargs)`: the ImageNet-1K model (B,3,H,W) -> logits (B,1000).
- `build_backbone(arch_id, **overrides)`: the detection/segmentation backbone as the authors'
  Mask R-CNN config builds it; forward returns a tuple of 4 NCHW feature maps.
- `list_archs()`: the arch ids.
- `map_mmdet2_keys(state_dict)`: mmdet-2 checkpoint keys -> ours (MLLA and Dual-Attn releases).

One model family per module (`zoo/<family>.py`); each exposes `ARCHS`, `build_classifier` and
`build_backbone`, and registers its backbones in mmdet's (and mmseg's) `MODELS` on import.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

# arch id -> module implementing its family (imported on first use: torch is heavy).
_FAMILY_MODULES: dict[str, str] = {
    "mlla": "vzoo.zoo.mlla",
    "spatial-mamba": "vzoo.zoo.spatial_mamba",
    "sparx-mamba": "vzoo.zoo.sparx_mamba",
    "msvmamba": "vzoo.zoo.msvmamba",
}
_ARCHS: dict[str, str] = {
    **{f"mlla-{v}": "mlla" for v in ("t", "s", "b")},
    **{f"spatial-mamba-{v}": "spatial-mamba" for v in ("t", "s", "b")},
    **{f"sparx-mamba-{v}": "sparx-mamba" for v in ("t", "s", "b")},
    **{f"msvmamba-{v}": "msvmamba" for v in ("nano", "micro", "tiny")},
}


def list_archs() -> list[str]:
    return sorted(_ARCHS)


def family_module(arch_id: str) -> ModuleType:
    if arch_id not in _ARCHS:
        import difflib

        from vzoo.core.errors import UserInputError

        close = difflib.get_close_matches(arch_id, list(_ARCHS), n=3)
        hint = f"; did you mean: {', '.join(close)}?" if close else ""
        raise UserInputError(f"unknown arch '{arch_id}'{hint} (known: {', '.join(list_archs())})")
    return importlib.import_module(_FAMILY_MODULES[_ARCHS[arch_id]])


def build_classifier(arch_id: str, **kwargs: Any) -> nn.Module:
    return family_module(arch_id).build_classifier(arch_id, **kwargs)


def build_backbone(arch_id: str, **overrides: Any) -> nn.Module:
    return family_module(arch_id).build_backbone(arch_id, **overrides)


def map_mmdet2_keys(state_dict: dict[str, Any]) -> dict[str, Any]:
    from vzoo.zoo.mmdet2_keys import map_mmdet2_keys as _map

    return _map(state_dict)


__all__ = ["build_backbone", "build_classifier", "list_archs", "map_mmdet2_keys"]
