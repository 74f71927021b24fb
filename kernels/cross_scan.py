"""VMamba's four-direction cross scan and its merge, as plain (differentiable) tensor ops.

Directions, for a (H, W) map flattened to L = H * W:
  0: row-major (h, w), 1: column-major (w, h), 2: direction 0 reversed, 3: direction 1 reversed.
`cross_merge` maps each direction's sequence back to row-major order and sums the four, i.e. it
is the adjoint of `cross_scan` (so cross_merge(cross_scan(x)) == 4 * x.flatten(2)).
"""

from __future__ import annotations

import torch
from torch import Tensor


def cross_scan(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, 4, C, H * W) in the four scan orders above."""
    if x.dim() != 4:
        raise ValueError(f"cross_scan: x must be (B, C, H, W), got shape {tuple(x.shape)}")
    rows = x.flatten(2)
    cols = x.transpose(2, 3).flatten(2)
    both = torch.stack((rows, cols), dim=1)
    return torch.cat((both, both.flip(-1)), dim=1)


def cross_merge(ys: Tensor, height: int, width: int) -> Tensor:
    """(B, 4, C, H * W) in the four scan orders -> (B, C, H * W) row-major, summed."""
    if ys.dim() != 4 or ys.shape[1] != 4 or ys.shape[3] != height * width:
        raise ValueError(
            f"cross_merge: ys must be (B, 4, C, H*W={height * width}), got {tuple(ys.shape)}"
        )
    both = ys[:, :2] + ys[:, 2:].flip(-1)
    bsz, _, ch, _ = ys.shape
    cols = both[:, 1].reshape(bsz, ch, width, height).transpose(2, 3).reshape(bsz, ch, -1)
    return both[:, 0] + cols
