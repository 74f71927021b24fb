"""`vzoo eval --gpus N`: checked against this machine before anything runs."""

from __future__ import annotations

from vzoo.core.errors import UserInputError


def require_gpus(gpus: int) -> None:
    """`--gpus N` (N > 0) needs CUDA here."""
    if gpus <= 0:
        return
    import torch

    if not torch.cuda.is_available():
        raise UserInputError(
            f"--gpus {gpus} was given but CUDA is not available here: use --gpus 0 for CPU"
        )
