"""From a checkpoint file to the state dict a vzoo model loads strictly."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vzoo.core.errors import VzooError

# Wrappers the authors' training code saves around the weights, in the order we look for them.
_WRAPPER_KEYS = ("state_dict", "model", "module")


def unwrap_state_dict(obj: Any, source: str) -> dict[str, Any]:
    """Take the weights out of an mmengine/mmdet/timm-style checkpoint dict."""
    import torch

    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            inner = obj.get(key)
            if (
                isinstance(inner, Mapping)
                and inner
                and all(isinstance(v, torch.Tensor) for v in inner.values())
            ):
                return dict(inner)
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise VzooError(
        f"{source}: no state dict found (looked for a tensor mapping at the top level and under "
        f"{', '.join(_WRAPPER_KEYS)})"
    )


def read_checkpoint(
    path: Path, expected_sha256: str | None = None, *, actual_sha256: str | None = None
) -> dict[str, Any]:
    """Load a checkpoint file safely and return its state dict (`actual_sha256`: already hashed)."""
    from vzoo.hub import load_checkpoint

    ckpt = load_checkpoint(path, expected_sha256, actual_sha256=actual_sha256)
    return unwrap_state_dict(ckpt, str(path))
