"""Triton selective-scan forward kernel (GPU; on CPU only under TRITON_INTERPRET=1 for tests).

One program owns BLOCK_D channels of one batch element and walks the sequence in tiles of
BLOCK_T steps. In a tile it forms the (BLOCK_D, BLOCK_N, BLOCK_T) decays exp(delta A) and inputs
delta u B in registers, runs `tl.associative_scan` along time with the linear-recurrence combine
(a1, x1) . (a2, x2) = (a1 a2, a2 x1 + x2), adds the carried state times the cumulative decay, and
keeps the tile's last state as the carry. Padded time steps use decay 1 and input 0, so the carry
is simply the tile's last column. The backward is not a Triton kernel: the autograd registration
in `scan_ops` recomputes through the differentiable torch backend.

Inputs are contiguous and already in the compute dtype; B/C are grouped (b, G, N, L).
"""

from __future__ import annotations

import triton
import triton.language as tl
from torch import Tensor


@triton.jit
def _combine(a1, x1, a2, x2):
    return a1 * a2, a2 * x1 + x2


@triton.jit
def _scan_kernel(
    u_ptr,
    dl_ptr,
    a_ptr,
    b_ptr,
    c_ptr,
    out_ptr,
    last_ptr,
    dim,
    length,
    n_state,
    groups,
    BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_T: tl.constexpr,
    STATES: tl.constexpr,
):
    bi = tl.program_id(0)
    d_idx = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    n_idx = tl.arange(0, BLOCK_N)
    t_rel = tl.arange(0, BLOCK_T)
    d_ok = d_idx < dim
    n_ok = n_idx < n_state
    dn_ok = d_ok[:, None] & n_ok[None, :]
    g_idx = d_idx // (dim // groups)
    a_mat = tl.load(a_ptr + d_idx[:, None] * n_state + n_idx[None, :], mask=dn_ok, other=0.0)
    # int64 offsets: a (b, D, N, L) states tensor can pass 2**31 elements
    ch_idx = (bi * dim + d_idx).to(tl.int64)
    row = ch_idx * length  # (BLOCK_D,) offsets of the (b, D, L) rows
    bc_row = ((bi * groups + g_idx).to(tl.int64)[:, None] * n_state + n_idx[None, :]) * length
    h = tl.zeros((BLOCK_D, BLOCK_N), dtype=a_mat.dtype)
    for t0 in range(0, length, BLOCK_T):
        t_idx = t0 + t_rel
        t_ok = t_idx < length
        dt_ok = d_ok[:, None] & t_ok[None, :]
        m3 = dn_ok[:, :, None] & t_ok[None, None, :]
        dl = tl.load(dl_ptr + row[:, None] + t_idx[None, :], mask=dt_ok, other=0.0)
        uu = tl.load(u_ptr + row[:, None] + t_idx[None, :], mask=dt_ok, other=0.0)
        bb = tl.load(b_ptr + bc_row[:, :, None] + t_idx[None, None, :], mask=m3, other=0.0)
        decay = tl.exp(dl[:, None, :] * a_mat[:, :, None])  # 1 on padded steps (dl = 0)
        x = (dl * uu)[:, None, :] * bb
        acum, hloc = tl.associative_scan((decay, x), 2, _combine)
        hs = hloc + acum * h[:, :, None]
        h = tl.sum(tl.where(t_rel[None, None, :] == BLOCK_T - 1, hs, 0.0), axis=2)
        if STATES:
            s_off = (ch_idx[:, None] * n_state + n_idx[None, :]) * length
            tl.store(out_ptr + s_off[:, :, None] + t_idx[None, None, :], hs, mask=m3)
        else:
            cc = tl.load(c_ptr + bc_row[:, :, None] + t_idx[None, None, :], mask=m3, other=0.0)
            y = tl.sum(hs * cc, axis=1)
            tl.store(out_ptr + row[:, None] + t_idx[None, :], y, mask=dt_ok)
    last_off = ch_idx[:, None] * n_state + n_idx[None, :]
    tl.store(last_ptr + last_off, h, mask=dn_ok)


def scan_triton(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor | None,
    *,
    return_states: bool = False,
) -> tuple[Tensor, Tensor]:
    """(y (b, D, L) or states (b, D, N, L), last state (b, D, N)); forward only."""
    u, delta, A, B = (t.contiguous() for t in (u, delta, A, B))
    C = C.contiguous() if C is not None else B
    bsz, dim, length = u.shape
    n_state, groups = A.shape[1], B.shape[1]
    # One program per (batch, channel), as Mamba's CUDA kernel has one block per channel: at
    # batch 1 the grid is D = 128..768 programs, about one or more per SM of an H100 (the
    # earlier 32 channels per program gave 4 programs at D = 128). Long time tiles (1024
    # steps at d_state 1) keep each program's loads wide. Not yet timed on a GPU (none lent):
    # benchmarks/scan_gpu.py measures it against the bandwidth bound.
    block_n = triton.next_power_of_2(n_state)
    block_d = 1
    block_t = min(triton.next_power_of_2(length), max(16, 1024 // block_n))
    out = u.new_empty((bsz, dim, n_state, length) if return_states else (bsz, dim, length))
    last = u.new_empty(bsz, dim, n_state)
    grid = (bsz, triton.cdiv(dim, block_d))
    _scan_kernel[grid](
        u, delta, A, B, C, out, last, dim, length, n_state, groups,
        BLOCK_D=block_d, BLOCK_N=block_n, BLOCK_T=block_t, STATES=return_states,
    )  # fmt: skip
    return out, last
