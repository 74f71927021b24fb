"""VMamba's four-direction cross scan and its merge, as plain (differentiable) tensor ops.

Directions, for a (H, W) map flattened to L = H * W:
  0: row-major (h, w), 1: column-major (w, h), 2: direction 0 reversed, 3: direction 1 reversed.
`cross_merge` maps each direction's sequence back to row-major order and sums the four, i.e. it
is the adjoint of `cross_scan` (so cross_merge(cross_scan(x)) == 4 * x.flatten(2)).
`cross_selective_scan` is the whole core of VMamba-v2's SS2D between them: per-direction
projections, the four selective scans and the merge.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vzoo.kernels.selective_scan import resolve_backend, selective_scan, token_kernel_applies


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


def cross_selective_scan(
    x: Tensor,
    x_proj_weight: Tensor,
    dt_projs_weight: Tensor,
    A: Tensor,
    D: Tensor,
    delta_bias: Tensor,
    *,
    backend: str | None = None,
) -> Tensor:
    """VMamba-v2's SS2D core: the four-direction selective scan of x (B, C, H, W), each
    direction with its own projections, merged back: (B, C, H, W). delta is softplus'ed.

    x_proj_weight (4, R + 2N, C), dt_projs_weight (4, C, R), A (4C, N), D and delta_bias (4C,),
    direction k's parameters at rows / channels k*C..(k+1)*C. On a CPU in float32 inference at
    N = 1 (numba), the scans walk the four orders over the token-major map and add into the
    merged result (`scan_simd.cross_scan_simd_tokens`; no gathered copies, flips or transposes);
    elsewhere (float64, autograd, tracing, Triton) `cross_scan`, `selective_scan` over (B, 4C, L)
    and `cross_merge` run.
    """
    b, c, h, w = x.shape
    k, r = dt_projs_weight.shape[0], dt_projs_weight.shape[2]
    n = (x_proj_weight.shape[1] - r) // 2
    length = h * w
    name = resolve_backend(backend, x.device)
    if (
        k == 4
        and n == 1
        and token_kernel_applies(
            name, A, True, (x, x_proj_weight, dt_projs_weight), (D, delta_bias)
        )
    ):
        from vzoo.kernels.scan_simd import cross_scan_simd_tokens

        tokens = x.permute(0, 2, 3, 1).reshape(b, length, c)  # a view of channels-last x
        x_dbl = F.linear(tokens, x_proj_weight.reshape(k * (r + 2), c)).view(b, length, k, r + 2)
        y = cross_scan_simd_tokens(tokens, x_dbl, dt_projs_weight, A, D, delta_bias, h, w)
        return y.view(b, h, w, c).permute(0, 3, 1, 2)
    xs = cross_scan(x.contiguous()).reshape(b, k * c, length)
    # the per-direction projections as batched matmuls: oneDNN's grouped 1-d convs (what the
    # authors call) run at ~1 GMAC/s on a CPU, a (k, c, d) @ (b, k, d, L) matmul at BLAS speed
    x_dbl = torch.matmul(x_proj_weight, xs.view(b, k, c, length))
    dts, bs, cs = x_dbl.split((r, n, n), dim=2)
    dts = torch.matmul(dt_projs_weight, dts).reshape(b, k * c, length)
    ys = selective_scan(
        xs, dts, A, bs.contiguous(), cs.contiguous(), D, delta_bias=delta_bias,
        delta_softplus=True, backend=name,
    )  # fmt: skip
    assert isinstance(ys, Tensor)
    return cross_merge(ys.view(b, k, c, length), h, w).view(b, c, h, w)
