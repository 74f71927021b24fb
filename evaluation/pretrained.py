"""A row's model with its verified weights: what `vzoo.create_model` returns (timm's habit).

The weights come the one way every command gets them: the one downloader (`fetch_checkpoint`,
cache first, sha256-verified), the one checkpoint loader (`load_checkpoint`, nothing in the
pickle runs, the registry's pinned sha256 checked), then a strict load into the network
`build_row_model` builds (mmdet-2 key names mapped for detectors, as eval maps them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vzoo.core.registry import Row

if TYPE_CHECKING:
    from torch import nn

    from vzoo.hub import Downloader


def row_state_dict(
    row: Row,
    *,
    checkpoint: Path | None = None,
    offline: bool | None = None,
    downloader: Downloader | None = None,
) -> dict[str, Any]:
    """The row's weights: `checkpoint` (the user's own file), else the verified download."""
    from vzoo.core.errors import UserInputError
    from vzoo.core.files import sha256_file
    from vzoo.evaluation.checkpoints import read_checkpoint
    from vzoo.hub import fetch_checkpoint

    if checkpoint is not None:
        if not checkpoint.is_file():
            raise UserInputError(f"checkpoint not found: {checkpoint}")
        return read_checkpoint(checkpoint)
    path = fetch_checkpoint(row, offline=offline, downloader=downloader)  # no weights: says so
    pinned = row.weights.sha256 if row.weights is not None else None
    return read_checkpoint(path, pinned, actual_sha256=sha256_file(path))


def load_row_weights(model: nn.Module, row: Row, state_dict: dict[str, Any]) -> None:
    """The row's weights into its network, strictly (every missing/unexpected key named)."""
    from vzoo.core.tasks import get_task

    if get_task(row.task).model_library == "mmdet":  # mmdet-2 key names mapped, as eval does
        from vzoo.evaluation.detection import load_detector_weights

        load_detector_weights(model, row, state_dict)
        return
    from vzoo.zoo.checkpoint import load_state_dict_strict

    load_state_dict_strict(model, state_dict, source=f"checkpoint of {row.id}")


def pretrained_model(
    row: Row,
    *,
    pretrained: bool,
    checkpoint: Path | None = None,
    offline: bool | None = None,
    downloader: Downloader | None = None,
) -> nn.Module:
    """The row's network in eval mode: with its verified weights (`pretrained` or a
    `checkpoint`), else as initialised (random init; seed torch for a repeatable one)."""
    from vzoo.zoo.row_models import build_row_model

    model = build_row_model(row)
    if pretrained or checkpoint is not None:
        state = row_state_dict(row, checkpoint=checkpoint, offline=offline, downloader=downloader)
        load_row_weights(model, row, state)
    return model.eval()
