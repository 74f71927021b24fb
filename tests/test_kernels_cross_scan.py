"""Cross scan / merge against an explicit per-position loop formulation."""

from __future__ import annotations

import sys

import pytest
import torch

from vzoo.kernels import selective_scan
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


def _ss2d_inputs(batch: int, ch: int, height: int, width: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, ch, height, width, generator=g)
    return {
        "x": x.contiguous(memory_format=torch.channels_last),
        "x_proj_weight": torch.randn(4, 2 + 2, ch, generator=g) * 0.3,
        "dt_projs_weight": torch.randn(4, ch, 2, generator=g) * 0.3,
        "A": -torch.rand(4 * ch, 1, generator=g),
        "D": torch.randn(4 * ch, generator=g),
        "delta_bias": torch.randn(4 * ch, generator=g) * 0.1,
    }


@pytest.mark.parametrize(
    ("shape", "threads"),
    [((1, 16, 5, 7), 1), ((2, 24, 8, 8), 2), ((1, 40, 3, 1), 2), ((1, 64, 33, 30), 2)],
)
def test_cross_selective_scan_token_walk_is_the_gathered_scans(
    shape: tuple[int, int, int, int], threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a CPU in float32 the four scans walk the token-major map and add in place; the
    result is what cross_scan + selective_scan + cross_merge compute (float32 roundings of the
    projections aside), and it is what ran. In float64 the gathered path runs and matches the
    explicit loop formulation of the scan orders."""
    from vzoo.kernels import scan_simd
    from vzoo.kernels.cross_scan import cross_selective_scan

    site = sys.modules["vzoo.kernels.cross_scan"]
    inp = _ss2d_inputs(*shape, seed=sum(shape))
    calls: list[int] = []
    real = scan_simd.cross_scan_simd_tokens
    monkeypatch.setattr(scan_simd, "cross_scan_simd_tokens", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    with torch.inference_mode():
        fast = cross_selective_scan(**inp)
        assert calls == [1]
        monkeypatch.setattr(site, "token_kernel_applies", lambda *a: False)
        gathered = cross_selective_scan(**inp)
    assert calls == [1] and fast.shape == gathered.shape == shape
    torch.testing.assert_close(fast, gathered, rtol=1e-5, atol=1e-5 * gathered.abs().max().item())

    # float64: the gathered path, against the per-position loops
    monkeypatch.undo()
    d64 = {k: v.double() for k, v in inp.items()}
    b, c, h, w = shape
    xs = loop_cross_scan(d64["x"])  # (B, 4, C, L)
    x_dbl = torch.einsum("krc,bkcl->bkrl", d64["x_proj_weight"], xs)
    dts = torch.einsum("kcr,bkrl->bkcl", d64["dt_projs_weight"], x_dbl[:, :, :2])
    ys = selective_scan(
        xs.reshape(b, 4 * c, h * w), dts.reshape(b, 4 * c, h * w), d64["A"],
        x_dbl[:, :, 2:3].contiguous(), x_dbl[:, :, 3:4].contiguous(), d64["D"],
        delta_bias=d64["delta_bias"], delta_softplus=True, backend="reference",
    )  # fmt: skip
    assert isinstance(ys, torch.Tensor)
    want = loop_cross_merge(ys.view(b, 4, c, h * w), h, w).view(b, c, h, w)
    with torch.no_grad():
        got = cross_selective_scan(**d64)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
