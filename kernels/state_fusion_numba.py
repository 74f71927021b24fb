"""Spatial-Mamba's state fusion (SASF) on CPU in float32: the 25 distinct taps only, numba.

SASF is three depthwise 3x3 cross-correlations with dilations 1, 3, 5 on a replicate-padded map,
alpha-weighted and summed. The authors' eval path (and vzoo's general path) runs them as one
11x11 depthwise kernel in which 27 of the 121 taps are non-zero (25 distinct offsets: the three
centres coincide); oneDNN prices it as dense, 4.5x the useful work. Here each (batch, channel)
plane is replicate-padded by 5 into a scratch buffer once, and every output row accumulates the
25 taps as contiguous, vectorised multiply-adds on rows that stay in cache.

Same function: the taps' weights are read off the merged kernel (`merged_sasf_kernel`), so only
the summation order differs from the dense convolution (float32 rounding; tested against the
float64 reference). Used for float32 CPU inference only (`applicable`); float64, autograd and
tracing (`vzoo flops` prices the traced dense kernel by its taps) take the torch path.
"""

from __future__ import annotations

import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import torch
from torch import Tensor

from vzoo import settings

RADIUS = 5  # the largest dilation: the merged kernel is 11x11
DILATIONS = (1, 3, 5)
# (row offset, column offset) of the 25 distinct non-zero taps of the merged kernel
TAPS: tuple[tuple[int, int], ...] = (
    (0, 0),
    *((d * p, d * q) for d in DILATIONS for p in (-1, 0, 1) for q in (-1, 0, 1) if p or q),
)
_TAP_ROWS = np.array([r + RADIUS for r, _ in TAPS], dtype=np.uint64)
_TAP_COLS = np.array([c + RADIUS for _, c in TAPS], dtype=np.uint64)

_JIT = {"nogil": True, "cache": True, "boundscheck": False, "error_model": "numpy",
        "fastmath": {"contract"}}  # fmt: skip


# As in scan_simd: indices and offsets are unsigned (np.uint64; with signed ones numba wraps
# negative indices and LLVM vectorises with gathers), and whole arrays are indexed, never sliced
# (slices bring reference counting into the inner loops).
@numba.njit(**_JIT)
def _fuse_planes(
    h: np.ndarray,  # (planes, H, W) float32
    weights: np.ndarray,  # (channels, taps) float32
    tap_rows: np.ndarray,  # uint64, offsets into the padded plane
    tap_cols: np.ndarray,
    channels: int,
    out: np.ndarray,  # (planes, H, W) float32
    lo: int,
    hi: int,
) -> None:
    _, height, width = h.shape
    hgt, wid = np.uint64(height), np.uint64(width)
    r = np.uint64(RADIUS)
    ntaps = np.uint64(tap_rows.shape[0])
    pad = np.empty((height + 2 * RADIUS, width + 2 * RADIUS), dtype=np.float32)
    acc = np.empty(width, dtype=np.float32)
    for plane in range(lo, hi):
        p = np.uint64(plane)
        for i in range(height + 2 * RADIUS):  # replicate padding: clamp rows and columns
            si = np.uint64(min(max(i - RADIUS, 0), height - 1))
            pi = np.uint64(i)
            first, last = h[p, si, 0], h[p, si, wid - np.uint64(1)]
            for j in range(r):
                pad[pi, j] = first
                pad[pi, wid + r + j] = last
            for j in range(wid):
                pad[pi, r + j] = h[p, si, j]
        c = np.uint64(plane % channels)
        for i in range(hgt):
            for j in range(wid):
                acc[j] = 0.0
            for t in range(ntaps):
                wt = weights[c, t]
                pr = i + tap_rows[t]
                c0 = tap_cols[t]
                for j in range(wid):
                    acc[j] += wt * pad[pr, c0 + j]
            for j in range(wid):
                out[p, i, j] = acc[j]


# Channels-last maps (batch, H, W, C), as a token-major model holds them: the channels are the
# vector lanes. Per output row, each tap adds weight[:, tap] * the clamped source pixel to the
# row's accumulator, taps in the same order as `_fuse_planes` (so the same roundings, bit for
# bit); replicate padding is the clamp of the source row and column, no padded copy.
@numba.njit(**_JIT)
def _fuse_channels_last(
    h: np.ndarray,  # (batch, H, W, C) float32, C-contiguous
    weights: np.ndarray,  # (taps, C) float32
    tap_rows: np.ndarray,  # uint64 offsets + RADIUS
    tap_cols: np.ndarray,
    out: np.ndarray,  # (batch, H, W, C) float32
    lo: int,  # this call's rows of all batches: [lo, hi) of batch * H
    hi: int,
) -> None:
    _, height, width, channels = h.shape
    chans = np.uint64(channels)
    ntaps = np.uint64(tap_rows.shape[0])
    acc = np.empty((width, channels), dtype=np.float32)
    for row in range(lo, hi):
        b = np.uint64(row // height)
        i = row % height
        for j in range(np.uint64(width)):
            for c in range(chans):
                acc[j, c] = 0.0
        for t in range(ntaps):
            si = np.uint64(min(max(i + np.int64(tap_rows[t]) - RADIUS, 0), height - 1))
            dc = np.int64(tap_cols[t]) - RADIUS
            for j in range(width):
                sj = np.uint64(min(max(j + dc, 0), width - 1))
                ju = np.uint64(j)
                for c in range(chans):
                    acc[ju, c] += weights[t, c] * h[b, si, sj, c]
        ir = np.uint64(i)
        for j in range(np.uint64(width)):
            for c in range(chans):
                out[b, ir, j, c] = acc[j, c]


def enabled() -> bool:
    """VZOO_SASF_NUMBA=0 turns this kernel off (the dense torch convolution runs instead)."""
    return settings.sasf_numba()


def applicable(h: Tensor, *params: Tensor) -> bool:
    """float32 CPU inference outside a trace (float64, gradients and tracing use torch)."""
    tensors = (h, *params)
    return (
        enabled()
        and all(t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors)
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
        and not torch.jit.is_tracing()
        and h.dim() == 4
    )


MIN_ELEMENTS_PER_THREAD = 1 << 16


def fuse(h: Tensor, merged: Tensor) -> Tensor:
    """SASF of h (B, C, H, W) with the merged (C, 1, 11, 11) kernel, replicate borders; a
    channels-last h gives a channels-last result (no transposing copy either way)."""
    bsz, channels, height, width = h.shape
    rows, cols = _TAP_ROWS.astype(np.int64), _TAP_COLS.astype(np.int64)
    taps = merged[:, 0, rows, cols].contiguous()  # (C, 25)
    if channels > 1 and h.is_contiguous(memory_format=torch.channels_last):
        return _fuse_channels_last_map(h, taps)
    src = h.detach().contiguous()
    out = torch.empty_like(src)
    planes = bsz * channels
    args = (
        src.view(planes, height, width).numpy(), taps.detach().numpy(), _TAP_ROWS, _TAP_COLS,
        channels, out.view(planes, height, width).numpy(),
    )  # fmt: skip
    parts = max(1, min(torch.get_num_threads(), planes,
                       planes * height * width // MIN_ELEMENTS_PER_THREAD))  # fmt: skip
    if parts == 1:
        _fuse_planes(*args, 0, planes)
    else:  # the kernel releases the GIL: one Python thread per range of planes
        cuts = [planes * k // parts for k in range(parts + 1)]
        pool = _pool(parts)
        jobs = [pool.submit(_fuse_planes, *args, lo, hi) for lo, hi in itertools.pairwise(cuts)]
        for job in jobs:
            job.result()
    return out


def _fuse_channels_last_map(h: Tensor, taps: Tensor) -> Tensor:
    bsz, channels, height, width = h.shape
    src = h.detach().permute(0, 2, 3, 1)  # (B, H, W, C), contiguous
    out = torch.empty_like(src)
    rows = bsz * height
    args = (src.numpy(), taps.t().contiguous().numpy(), _TAP_ROWS, _TAP_COLS, out.numpy())
    parts = max(1, min(torch.get_num_threads(), rows,
                       rows * width * channels // MIN_ELEMENTS_PER_THREAD))  # fmt: skip
    if parts == 1:
        _fuse_channels_last(*args, 0, rows)
    else:
        cuts = [rows * k // parts for k in range(parts + 1)]
        pool = _pool(parts)
        jobs = [
            pool.submit(_fuse_channels_last, *args, lo, hi) for lo, hi in itertools.pairwise(cuts)
        ]
        for job in jobs:
            job.result()
    return out.permute(0, 3, 1, 2)


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vzoo-sasf")


# A forked child inherits the pool object but not its threads (see scan_simd): start afresh.
os.register_at_fork(after_in_child=_pool.cache_clear)
