"""Strict state-dict loading with an error that lists what does not fit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from vzoo.core.errors import VzooError


class CheckpointMismatchError(VzooError):
    """A state dict that does not fit its model: missing, unexpected and wrongly shaped keys."""

    def __init__(
        self,
        source: str,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    ) -> None:
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched

        def few(items: list[str]) -> str:
            return ", ".join(items[:8]) + (f" (+{len(items) - 8} more)" if len(items) > 8 else "")

        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {few(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {few(unexpected)}")
        if mismatched:
            parts.append(
                f"{len(mismatched)} mis-shaped key(s): "
                + few([f"{k} checkpoint {tuple(a)} vs model {tuple(b)}" for k, a, b in mismatched])
            )
        super().__init__(f"{source} does not fit the model: " + "; ".join(parts))


def load_state_dict_strict(
    model: nn.Module, state_dict: Mapping[str, Any], source: str = "checkpoint"
) -> None:
    """`model.load_state_dict(strict=True)`, but every problem is listed in one clear error."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    mismatched = [
        (k, tuple(state_dict[k].shape), tuple(own[k].shape))
        for k in sorted(set(own) & set(state_dict))
        if isinstance(state_dict[k], Tensor) and state_dict[k].shape != own[k].shape
    ]
    if missing or unexpected or mismatched:
        raise CheckpointMismatchError(source, missing, unexpected, mismatched)
    model.load_state_dict(dict(state_dict), strict=True)
