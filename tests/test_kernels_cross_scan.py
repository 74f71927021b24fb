"""Cross scan / merge against an explicit per-position loop formulation."""

from __future__ import annotations

import pytest
import torch

from vzoo.kernels.cross_scan import cross_merge, cross_scan


def loop_cross_scan(x: torch.Tensor) -> torch.Tensor:
    """Direction k, position l -> the (h, w) it reads, written out one element at a time."""
    bsz, ch, height, width = x.shape
    length = height * width
    out = torch.empty(bsz, 4, ch, length, dtype=x.dtype)
    for pos in range(length):
        row_major = (pos // width, pos % width)  # direction 0
        col_major = (pos % height, pos // height)  # direction 1: walk down columns
        rev = length - 1 - pos
        out[:, 0, :, pos] = x[:, :, row_major[0], row_major[1]]
        out[:, 1, :, pos] = x[:, :, col_major[0], col_major[1]]
        out[:, 2, :, rev] = x[:, :, row_major[0], row_major[1]]
        out[:, 3, :, rev] = x[:, :, col_major[0], col_major[1]]
    return out


def loop_cross_merge(ys: torch.Tensor, height: int, width: int) -> torch.Tensor:
    bsz, _, ch, length = ys.shape
    out = torch.zeros(bsz, ch, length, dtype=ys.dtype)
    for h in range(height):
        for w in range(width):
            row_pos, col_pos = h * width + w, w * height + h
            out[:, :, row_pos] = (
                ys[:, 0, :, row_pos]
                + ys[:, 1, :, col_pos]
                + ys[:, 2, :, length - 1 - row_pos]
                + ys[:, 3, :, length - 1 - col_pos]
            )
    return out


@pytest.mark.parametrize(("height", "width"), [(1, 1), (3, 5), (4, 4), (7, 2)])
def test_cross_scan_matches_loop(height: int, width: int) -> None:
    x = torch.randn(2, 3, height, width, dtype=torch.float64)
    assert torch.equal(cross_scan(x), loop_cross_scan(x))


@pytest.mark.parametrize(("height", "width"), [(1, 1), (3, 5), (4, 4), (7, 2)])
def test_cross_merge_matches_loop(height: int, width: int) -> None:
    ys = torch.randn(2, 4, 3, height * width, dtype=torch.float64)
    # the 4 directions may be summed in another order: a few ulps; a wrong index is O(1)
    torch.testing.assert_close(
        cross_merge(ys, height, width), loop_cross_merge(ys, height, width), rtol=0, atol=1e-13
    )


def test_merge_is_the_adjoint_of_scan() -> None:
    x = torch.randn(1, 2, 3, 6, dtype=torch.float64)
    ys = torch.randn(1, 4, 2, 18, dtype=torch.float64)
    lhs = (cross_scan(x) * ys).sum()
    rhs = (x.flatten(2) * cross_merge(ys, 3, 6)).sum()
    torch.testing.assert_close(lhs, rhs)
    torch.testing.assert_close(cross_merge(cross_scan(x), 3, 6), 4 * x.flatten(2))


def test_cross_ops_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match="x must be"):
        cross_scan(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="ys must be"):
        cross_merge(torch.zeros(1, 4, 2, 10), 3, 4)
    with pytest.raises(ValueError, match="ys must be"):
        cross_merge(torch.zeros(1, 3, 2, 12), 3, 4)
