"""CPU selective scan: vectorised torch exp + a compiled (numba) recurrence, with a custom backward.

Why this split: on CPU the per-element exp(delta A) dominates a scalar loop, while torch's exp is
SIMD-vectorised; the recurrence itself is a dependency chain that numba compiles to a tight loop,
four independent rows interleaved to hide the multiply-add latency. The sequence is processed in
time chunks whose (rows, T) decay buffer stays cache-resident and is reused, so peak extra memory
is one chunk, never (L, D, N). The backward keeps only the chunk-boundary states and recomputes
each chunk's states from them, in reverse chunk order.

Inference in float32 at N == 1 with softplus (the VMamba-v2-style T models) does not come
here: `scan_numba_fused` hands it to the single-pass kernel of scan_simd.py (about 2x faster,
reports/scan.md). This path serves float64, N > 1, no softplus, and the autograd forward /
backward. Its N == 1 chunk load is two numba passes (bias; softplus threshold + delta*A) around
torch's exp / log1p, reading delta straight from the full array.

Inputs (already in the compute dtype, float32 or float64, contiguous):
  u, delta: (b, D, L); A: (D, N); B, C: (b, G, N, L) grouped (G = 1 for shared B/C).
Rows are r = (batch * D + d) * N + n.
"""

from __future__ import annotations

import ctypes
import functools
import sys

import numba
import numpy as np
import torch
from torch import Tensor

from vzoo.kernels import scan_simd

CHUNK_ELEMENTS = 1 << 18  # rows * T of the decay buffer: ~1 MiB in float32, L2-resident
MIN_CHUNK = 64

_JIT = {"nogil": True, "cache": True, "boundscheck": False}


@numba.njit(**_JIT)
def _scale_rows(x: np.ndarray, scale: np.ndarray, dim: int, t_len: int, out: np.ndarray) -> None:
    """N == 1: out[r, t] = x[r, t] * scale[r % D] (delta * A before the exp; beats torch.mul's
    broadcast)."""
    for r in range(x.shape[0]):
        sv = scale[r % dim]
        src, dst = x[r, :t_len], out[r, :t_len]  # 1-D views: LLVM vectorises
        for t in range(t_len):
            dst[t] = src[t] * sv


@numba.njit(**_JIT)
def _bias_rows(
    delta: np.ndarray, bias: np.ndarray, dim: int, t0: int, t_len: int, out: np.ndarray
) -> None:
    """out[r, t] = delta[r, t0 + t] + bias[r % D]: the biased delta of one chunk, read straight
    from the full (b*D, L) array (one pass instead of torch's strided broadcast add)."""
    for r in range(out.shape[0]):
        bv = bias[r % dim]
        src, dst = delta[r, t0 : t0 + t_len], out[r, :t_len]  # 1-D views: LLVM vectorises
        for t in range(t_len):
            dst[t] = src[t] + bv


@numba.njit(**_JIT)
def _softplus_scale_rows(
    x: np.ndarray, lp: np.ndarray, scale: np.ndarray, dim: int, t_len: int, softplus: bool,
    out: np.ndarray,
) -> None:  # fmt: skip
    """N == 1: x <- softplus(x) given lp = log1p(exp(x)) (Mamba's threshold 20: x > 20 keeps x),
    and out = x * scale[r % D], the exponent of the decay: one pass for both."""
    for r in range(x.shape[0]):
        sv = scale[r % dim]
        if softplus:
            for t in range(t_len):
                xv = x[r, t]
                v = xv if xv > 20.0 else lp[r, t]
                x[r, t] = v
                out[r, t] = v * sv
        else:
            for t in range(t_len):
                out[r, t] = x[r, t] * sv


@numba.njit(inline="always", **_JIT)
def _row_index(r: int, dim: int, n_state: int, groups: int) -> tuple[int, int, int]:
    """Row r -> (channel row of (b*D, T) arrays, B/C row of (b*G*N, T) arrays, index d*N+n)."""
    ch = r // n_state
    n = r - ch * n_state
    bi = ch // dim
    d = ch - bi * dim
    g = d // (dim // groups)
    return ch, (bi * groups + g) * n_state + n, d * n_state + n


@numba.njit(**_JIT)
def _forward_n1(
    a: np.ndarray,  # (b*D, Tb) exp(delta A) of this chunk
    dl: np.ndarray,  # (b*D, Tb) delta of this chunk
    uu: np.ndarray,  # (b*D, Lu) u; this chunk starts at column t0
    bm: np.ndarray,  # (b*G, Tb) B of this chunk
    cm: np.ndarray,  # (b*G, Tb) C of this chunk (unused unless want_y)
    dvec: np.ndarray,  # (D,) skip weights D (zeros when absent)
    h: np.ndarray,  # (b*D,) carried state, updated in place
    y: np.ndarray,  # (b*D, Ly) output; this chunk starts at column t0
    s: np.ndarray,  # (b*D, Ls) states; this chunk starts at column s_off
    t0: int,
    s_off: int,
    t_len: int,
    dim: int,
    groups: int,
    want_y: bool,
    want_s: bool,
) -> None:
    """N == 1: four channels per pass, their recurrences interleaved to hide the FMA latency."""
    rows = a.shape[0]
    per = dim // groups
    for q in range((rows + 3) // 4):
        r0 = 4 * q
        k = min(4, rows - r0)
        g0 = (r0 // dim) * groups + (r0 % dim) // per
        g1 = ((r0 + 1) // dim) * groups + ((r0 + 1) % dim) // per
        g2 = ((r0 + 2) // dim) * groups + ((r0 + 2) % dim) // per
        g3 = ((r0 + 3) // dim) * groups + ((r0 + 3) % dim) // per
        # rows past the end (k < 4) alias row r0: computed twice, stored once, harmless
        r1 = r0 + 1 if k > 1 else r0
        r2 = r0 + 2 if k > 2 else r0
        r3 = r0 + 3 if k > 3 else r0
        g1 = g1 if k > 1 else g0
        g2 = g2 if k > 2 else g0
        g3 = g3 if k > 3 else g0
        d0, d1, d2, d3 = dvec[r0 % dim], dvec[r1 % dim], dvec[r2 % dim], dvec[r3 % dim]
        h0, h1, h2, h3 = h[r0], h[r1], h[r2], h[r3]
        if g0 == g1 == g2 == g3 and want_y and not want_s:
            # the common case (one B/C group for all four rows): one B and C load per step
            # 1-D views: plain pointer walks instead of 2-D index arithmetic per access
            a0, a1, a2, a3 = a[r0, :t_len], a[r1, :t_len], a[r2, :t_len], a[r3, :t_len]
            l0, l1, l2, l3 = dl[r0, :t_len], dl[r1, :t_len], dl[r2, :t_len], dl[r3, :t_len]
            te = t0 + t_len
            v0, v1, v2, v3 = uu[r0, t0:te], uu[r1, t0:te], uu[r2, t0:te], uu[r3, t0:te]
            y0, y1, y2, y3 = y[r0, t0:te], y[r1, t0:te], y[r2, t0:te], y[r3, t0:te]
            bv, cv = bm[g0, :t_len], cm[g0, :t_len]
            for t in range(t_len):
                u0, u1, u2, u3 = v0[t], v1[t], v2[t], v3[t]
                bt, ct = bv[t], cv[t]
                h0 = a0[t] * h0 + l0[t] * u0 * bt
                h1 = a1[t] * h1 + l1[t] * u1 * bt
                h2 = a2[t] * h2 + l2[t] * u2 * bt
                h3 = a3[t] * h3 + l3[t] * u3 * bt
                y0[t] = h0 * ct + d0 * u0
                y1[t] = h1 * ct + d1 * u1
                y2[t] = h2 * ct + d2 * u2
                y3[t] = h3 * ct + d3 * u3
            h[r0], h[r1], h[r2], h[r3] = h0, h1, h2, h3
        elif g0 == g1 == g2 == g3 and want_s and not want_y:
            # the same for the states-only scan (Spatial-Mamba)
            a0, a1, a2, a3 = a[r0, :t_len], a[r1, :t_len], a[r2, :t_len], a[r3, :t_len]
            l0, l1, l2, l3 = dl[r0, :t_len], dl[r1, :t_len], dl[r2, :t_len], dl[r3, :t_len]
            te, se = t0 + t_len, s_off + t_len
            v0, v1, v2, v3 = uu[r0, t0:te], uu[r1, t0:te], uu[r2, t0:te], uu[r3, t0:te]
            s0, s1, s2, s3 = s[r0, s_off:se], s[r1, s_off:se], s[r2, s_off:se], s[r3, s_off:se]
            bv = bm[g0, :t_len]
            for t in range(t_len):
                bt = bv[t]
                h0 = a0[t] * h0 + l0[t] * v0[t] * bt
                h1 = a1[t] * h1 + l1[t] * v1[t] * bt
                h2 = a2[t] * h2 + l2[t] * v2[t] * bt
                h3 = a3[t] * h3 + l3[t] * v3[t] * bt
                s0[t] = h0
                s1[t] = h1
                s2[t] = h2
                s3[t] = h3
            h[r0], h[r1], h[r2], h[r3] = h0, h1, h2, h3
        else:
            for t in range(t_len):
                tt = t0 + t
                u0, u1, u2, u3 = uu[r0, tt], uu[r1, tt], uu[r2, tt], uu[r3, tt]
                h0 = a[r0, t] * h0 + dl[r0, t] * u0 * bm[g0, t]
                h1 = a[r1, t] * h1 + dl[r1, t] * u1 * bm[g1, t]
                h2 = a[r2, t] * h2 + dl[r2, t] * u2 * bm[g2, t]
                h3 = a[r3, t] * h3 + dl[r3, t] * u3 * bm[g3, t]
                if want_y:
                    y[r0, tt] = h0 * cm[g0, t] + d0 * u0
                    y[r1, tt] = h1 * cm[g1, t] + d1 * u1
                    y[r2, tt] = h2 * cm[g2, t] + d2 * u2
                    y[r3, tt] = h3 * cm[g3, t] + d3 * u3
                if want_s:
                    ts = s_off + t
                    s[r0, ts] = h0
                    s[r1, ts] = h1
                    s[r2, ts] = h2
                    s[r3, ts] = h3
            h[r0], h[r1], h[r2], h[r3] = h0, h1, h2, h3


@numba.njit(**_JIT)
def _forward_general(
    a: np.ndarray,  # (b*D*N, Tb)
    dl: np.ndarray,  # (b*D, Tb)
    uu: np.ndarray,  # (b*D, Lu), chunk at column t0
    bm: np.ndarray,  # (b*G*N, Tb)
    cm: np.ndarray,  # (b*G*N, Tb)
    dvec: np.ndarray,  # (D,) skip weights D (zeros when absent)
    h: np.ndarray,  # (b*D*N,)
    y: np.ndarray,  # (b*D, Ly), chunk at column t0
    s: np.ndarray,  # (b*D*N, Ls), chunk at column s_off
    t0: int,
    s_off: int,
    t_len: int,
    dim: int,
    n_state: int,
    groups: int,
    want_y: bool,
    want_s: bool,
) -> None:
    """Any N: one channel at a time, its N state recurrences are the independent chains."""
    per = dim // groups
    for ch in range(dl.shape[0]):
        d = ch % dim
        r0 = ch * n_state
        br0 = ((ch // dim) * groups + d // per) * n_state
        dd = dvec[d]
        for t in range(t_len):
            tt = t0 + t
            uv = uu[ch, tt]
            xv = dl[ch, t] * uv
            acc = dd * uv
            for n in range(n_state):
                hv = a[r0 + n, t] * h[r0 + n] + xv * bm[br0 + n, t]
                h[r0 + n] = hv
                acc += hv * cm[br0 + n, t]
                if want_s:
                    s[r0 + n, s_off + t] = hv
            if want_y:
                y[ch, tt] = acc


@numba.njit(**_JIT)
def _backward_chunk(
    a: np.ndarray,  # (R, Tb) exp(delta A)
    sc: np.ndarray,  # (R, Tb) this chunk's states (recomputed)
    h_start: np.ndarray,  # (R,) state before the chunk
    dl: np.ndarray,  # (b*D, Tb) delta
    uu: np.ndarray,  # (b*D, Tb) u
    bm: np.ndarray,
    cm: np.ndarray,
    a_flat: np.ndarray,  # (D*N,)
    gy: np.ndarray,  # (b*D, Tb) grad of y when y_mode
    gs: np.ndarray,  # (R, Tb) grad of the states otherwise
    carry: np.ndarray,  # (R,) a_{t+1} dh_{t+1} flowing in from the right, updated in place
    gdl: np.ndarray,  # (b*D, Tb) zeroed
    guu: np.ndarray,  # (b*D, Tb) zeroed
    gb: np.ndarray,  # (b*G*N, Tb) zeroed
    gc: np.ndarray,  # (b*G*N, Tb) zeroed
    ga: np.ndarray,  # (D*N,) accumulated over batch and chunks
    t_len: int,
    dim: int,
    n_state: int,
    groups: int,
    y_mode: bool,
) -> None:
    for r in range(a.shape[0]):
        ch, br, ai = _row_index(r, dim, n_state, groups)
        a_val = a_flat[ai]
        c = carry[r]
        acc_a = 0.0  # float64 accumulator for dL/dA over the chunk
        for t in range(t_len - 1, -1, -1):
            if y_mode:
                g = gy[ch, t]
                dh = c + g * cm[br, t]
                gc[br, t] += g * sc[r, t]
            else:
                dh = c + gs[r, t]
            hp = sc[r, t - 1] if t > 0 else h_start[r]
            at = a[r, t]
            d_t, u_t, b_t = dl[ch, t], uu[ch, t], bm[br, t]
            q = dh * hp * at  # dL / d(delta_t A)
            acc_a += q * d_t
            gdl[ch, t] += q * a_val + dh * u_t * b_t
            guu[ch, t] += dh * d_t * b_t
            gb[br, t] += dh * d_t * u_t
            c = at * dh
        carry[r] = c
        ga[ai] += acc_a


_HUGE_PAGE = 1 << 21
_MADV_HUGEPAGE = 14  # linux/mman.h


@functools.cache
def _madvise() -> object | None:
    """libc's madvise on Linux (None elsewhere or when it cannot be loaded)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def _new_output(like: Tensor, *shape: int) -> Tensor:
    """An uninitialised output, backed by transparent huge pages where the kernel allows it.

    Why: a fresh output above glibc's mmap threshold (32 MiB: the COCO stage-1 scans) is new
    memory, and first-touching it 4 KiB page by page cost ~16 ms per 47 MiB here, a quarter of
    the whole scan; with MADV_HUGEPAGE (THP mode "madvise", the common default) ~5 ms. Only the
    2 MiB-aligned interior is advised; failure is harmless (plain pages).
    """
    out = like.new_empty(shape)
    madvise = _madvise()
    nbytes = out.numel() * out.element_size()
    if madvise is None or nbytes < 4 * _HUGE_PAGE:
        return out
    ptr = out.data_ptr()
    start = -(-ptr // _HUGE_PAGE) * _HUGE_PAGE
    stop = (ptr + nbytes) // _HUGE_PAGE * _HUGE_PAGE
    if stop > start:
        madvise(start, stop - start, _MADV_HUGEPAGE)  # type: ignore[operator]
    return out


def _chunk_len(rows: int, length: int) -> int:
    return min(length, max(MIN_CHUNK, CHUNK_ELEMENTS // max(1, rows)))


def _np(t: Tensor) -> np.ndarray:
    return t.detach().numpy()


def _softplus_(x: Tensor, tmp: Tensor) -> None:
    """x <- F.softplus(x) (beta 1, threshold 20: x > 20 ? x : log1p(exp(x))), as Mamba.

    Same formula as ATen's softplus with out= passes (about 2x faster on CPU). Above the
    threshold it takes max(x, log1p(exp(min(x, 20)))), which is x: log1p(exp(20)) rounds to 20
    in float32 and float64, and softplus(x) > x.
    """
    if float(x.max()) <= 20.0:  # the usual case: two passes
        torch.exp(x, out=tmp)
        torch.log1p(tmp, out=x)
        return
    torch.clamp_max(x, 20.0, out=tmp)
    torch.exp(tmp, out=tmp)
    torch.log1p(tmp, out=tmp)
    torch.maximum(x, tmp, out=x)


class _Chunks:
    """Reusable per-chunk buffers (decays, delta, B, C), cache-resident between chunks.

    Every buffer has `chunk` columns; a shorter last chunk fills only the first t_len of them.
    """

    def __init__(self, shape: tuple[int, int, int], A: Tensor, B: Tensor, C: Tensor | None) -> None:
        bsz, dim, length = shape
        self.dim, self.length = dim, length
        self.n_state, self.groups = A.shape[1], B.shape[1]
        self.rows = bsz * dim * self.n_state
        self.chunk = _chunk_len(self.rows, length)
        self.a_col = A[None, :, :, None]
        self.np_a = _np(A.contiguous().view(-1))
        self.B, self.C = B, C
        new = A.new_empty
        self.decay = new(bsz, dim, self.n_state, self.chunk)
        self.dl, self.tmp = new(bsz, dim, self.chunk), new(bsz, dim, self.chunk)
        self.b = new(*B.shape[:3], self.chunk)
        self.c = new(*C.shape[:3], self.chunk) if C is not None else None
        rows_bc = B.shape[0] * B.shape[1] * self.n_state
        self.np_decay = _np(self.decay.view(self.rows, self.chunk))
        self.np_dl = _np(self.dl.view(-1, self.chunk))
        self.np_b = _np(self.b.view(rows_bc, self.chunk))
        self.np_c = _np(self.c.view(rows_bc, self.chunk)) if self.c is not None else self.np_b

    def slices(self) -> list[slice]:
        return [
            slice(t0, min(self.length, t0 + self.chunk)) for t0 in range(0, self.length, self.chunk)
        ]

    def load(self, sl: slice, delta: Tensor, bias: Tensor | None, softplus: bool) -> None:
        """Fill the buffers for the steps `sl` from the full delta (any float dtype)."""
        t_len = sl.stop - sl.start
        dl = self.dl[..., :t_len]
        if self.n_state == 1 and delta.dtype == self.decay.dtype and delta.is_contiguous():
            self._load_n1(sl, delta, bias, softplus)
            return
        if bias is not None:
            torch.add(delta[..., sl], bias[:, None], out=dl)
        else:
            dl.copy_(delta[..., sl])
        if softplus:
            _softplus_(dl, self.tmp[..., :t_len])
        decay = self.decay[..., :t_len]
        if self.n_state == 1:
            _scale_rows(self.np_dl, self.np_a, self.dim, t_len, self.np_decay)
        else:
            torch.mul(dl.unsqueeze(2), self.a_col, out=decay)
        torch.exp(decay, out=decay)
        self.b[..., :t_len].copy_(self.B[..., sl])
        if self.c is not None:
            assert self.C is not None
            self.c[..., :t_len].copy_(self.C[..., sl])

    def _load_n1(self, sl: slice, delta: Tensor, bias: Tensor | None, softplus: bool) -> None:
        """N == 1 fast path: bias, softplus threshold and delta*A in two numba passes; torch
        does only the (SIMD) exp / log1p."""
        t_len = sl.stop - sl.start
        bias_np = (
            _np(bias.contiguous()) if bias is not None else np.zeros(self.dim, self.np_a.dtype)
        )
        _bias_rows(_np(delta.view(-1, self.length)), bias_np, self.dim, sl.start, t_len, self.np_dl)
        if softplus:
            tmp = self.tmp[..., :t_len]
            torch.exp(self.dl[..., :t_len], out=tmp)
            torch.log1p(tmp, out=tmp)
        _softplus_scale_rows(
            self.np_dl, _np(self.tmp.view(-1, self.chunk)), self.np_a, self.dim, t_len, softplus,
            self.np_decay,
        )  # fmt: skip
        decay = self.decay[..., :t_len]
        torch.exp(decay, out=decay)
        self.b[..., :t_len].copy_(self.B[..., sl])
        if self.c is not None:
            assert self.C is not None
            self.c[..., :t_len].copy_(self.C[..., sl])

    def forward(
        self, h: np.ndarray, u: np.ndarray, dvec: np.ndarray, y: np.ndarray, s: np.ndarray,
        t0: int, s_off: int, t_len: int, want_y: bool, want_s: bool,
    ) -> None:  # fmt: skip
        """Run the recurrence of the loaded chunk (u, y: full (b*D, L) arrays, chunk at t0)."""
        if self.n_state == 1:
            _forward_n1(
                self.np_decay, self.np_dl, u, self.np_b, self.np_c, dvec, h, y, s,
                t0, s_off, t_len, self.dim, self.groups, want_y, want_s,
            )  # fmt: skip
        else:
            _forward_general(
                self.np_decay, self.np_dl, u, self.np_b, self.np_c, dvec, h, y, s,
                t0, s_off, t_len, self.dim, self.n_state, self.groups, want_y, want_s,
            )  # fmt: skip


def scan_numba_fused(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor | None,
    D: Tensor | None,
    z: Tensor | None,
    delta_bias: Tensor | None,
    delta_softplus: bool,
    *,
    return_states: bool = False,
) -> tuple[Tensor, Tensor]:
    """Inference forward, bias / softplus / D / silu(z) applied chunk by chunk; no autograd.
    float32 at d_state 1 with softplus and A <= 0 goes to the single-pass scan_simd kernel.

    u, delta, z: (b, D, L), any float dtype; A, B, C (grouped (b, G, N, L)), D, delta_bias in
    the compute dtype ct = A.dtype. Returns (y (b, D, L) or states (b, D, N, L), last state),
    in ct. Peak extra memory: the chunk buffers (and a ct copy of u for half inputs).
    """
    ct = A.dtype
    bsz, dim, length = u.shape
    if scan_simd.applicable(A, delta_softplus) and scan_simd.enabled():
        out = _new_output(A, bsz, dim, 1, length) if return_states else _new_output(A, *u.shape)
        last = scan_simd.scan_simd(u, delta, A, B, C if not return_states else None, D,
                                   z if not return_states else None, delta_bias, out)  # fmt: skip
        return out, last
    ch = _Chunks((bsz, dim, length), A, B, C)
    u_c = u.to(ct).contiguous()
    u_np = _np(u_c.view(bsz * dim, length))
    h = A.new_zeros(ch.rows)
    h_np = _np(h)
    dvec = _np(D.contiguous() if D is not None else A.new_zeros(dim))
    if return_states:
        out = _new_output(A, bsz, dim, ch.n_state, length)
        y_np, s_np = _np(A.new_empty(1, 1)), _np(out.view(ch.rows, length))
    else:
        out = _new_output(A, bsz, dim, length)
        y_np, s_np = _np(out.view(bsz * dim, length)), _np(A.new_empty(1, 1))
    for sl in ch.slices():
        ch.load(sl, delta, delta_bias, delta_softplus)
        t0, t_len = sl.start, sl.stop - sl.start
        ch.forward(h_np, u_np, dvec, y_np, s_np, t0, t0, t_len, not return_states, return_states)
        if z is not None and not return_states:
            out[..., sl].mul_(torch.nn.functional.silu(z[..., sl].to(ct)))
    return out, h.view(bsz, dim, ch.n_state)


class _NumbaScan(torch.autograd.Function):
    """The core scan (delta already biased / softplused) with a chunked, recomputing backward."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        u: Tensor,
        delta: Tensor,
        A: Tensor,
        B: Tensor,
        C: Tensor | None,
        return_states: bool,
    ) -> tuple[Tensor, Tensor]:
        u, delta = u.contiguous(), delta.contiguous()
        bsz, dim, length = u.shape
        ch = _Chunks((bsz, dim, length), A, B, C)
        slices = ch.slices()
        bounds = A.new_empty(len(slices), ch.rows)  # state before each chunk, for the backward
        h = A.new_zeros(ch.rows)
        h_np, u_np, zeros = _np(h), _np(u.view(bsz * dim, length)), _np(A.new_zeros(dim))
        if return_states:
            out = A.new_empty(bsz, dim, ch.n_state, length)
            y_np, s_np = _np(A.new_empty(1, 1)), _np(out.view(ch.rows, length))
        else:
            out = A.new_empty(bsz, dim, length)
            y_np, s_np = _np(out.view(bsz * dim, length)), _np(A.new_empty(1, 1))
        for i, sl in enumerate(slices):
            ch.load(sl, delta, None, False)
            bounds[i] = h
            t0, t_len = sl.start, sl.stop - sl.start
            ch.forward(h_np, u_np, zeros, y_np, s_np, t0, t0, t_len, not return_states,
                       return_states)  # fmt: skip
        ctx.save_for_backward(u, delta, A, B, C, bounds)
        ctx.return_states = return_states
        return out, h.view(bsz, dim, ch.n_state)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, g_out: Tensor | None, g_last: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        u, delta, A, B, C, bounds = ctx.saved_tensors
        return_states = ctx.return_states
        bsz, dim, length = u.shape
        ch = _Chunks((bsz, dim, length), A, B, C)
        rows, chunk, n_state = ch.rows, ch.chunk, ch.n_state
        if g_out is None:
            g_out = u.new_zeros((bsz, dim, n_state, length) if return_states else u.shape)
        carry = g_last.reshape(rows).clone() if g_last is not None else u.new_zeros(rows)
        g_delta, g_u, g_b = torch.zeros_like(delta), torch.zeros_like(u), torch.zeros_like(B)
        g_c = torch.zeros_like(C) if C is not None else None
        g_a = torch.zeros_like(A)
        # chunk-local buffers: recomputed states, incoming grads, outgoing grads
        states = u.new_empty(rows, chunk)
        g_in = u.new_zeros(*g_out.shape[:-1], chunk)
        u_buf = u.new_zeros(bsz, dim, chunk)
        gd_buf, gu_buf = u.new_zeros(bsz, dim, chunk), u.new_zeros(bsz, dim, chunk)
        gb_buf = B.new_zeros(*B.shape[:3], chunk)
        gc_buf = B.new_zeros(*B.shape[:3], chunk) if C is not None else gb_buf
        g_in_np, u_np = _np(g_in.view(-1, chunk)), _np(u_buf.view(-1, chunk))
        a_flat, zeros = _np(A.contiguous().view(-1)), _np(A.new_zeros(dim))
        dummy = _np(u.new_empty(1, 1))
        for i, sl in reversed(list(enumerate(ch.slices()))):
            t_len = sl.stop - sl.start
            ch.load(sl, delta, None, False)
            u_buf[..., :t_len].copy_(u[..., sl])
            g_in[..., :t_len].copy_(g_out[..., sl])
            for t in (gd_buf, gu_buf, gb_buf, gc_buf):
                t.zero_()
            h = bounds[i].clone()
            ch.forward(_np(h), u_np, zeros, dummy, _np(states), 0, 0, t_len, False, True)
            _backward_chunk(
                ch.np_decay, _np(states), _np(bounds[i]), ch.np_dl, u_np, ch.np_b, ch.np_c,
                a_flat, g_in_np, g_in_np, _np(carry),
                _np(gd_buf.view(-1, chunk)), _np(gu_buf.view(-1, chunk)),
                _np(gb_buf.view(-1, chunk)), _np(gc_buf.view(-1, chunk)), _np(g_a.view(-1)),
                t_len, dim, n_state, ch.groups, not return_states,
            )  # fmt: skip
            g_delta[..., sl] = gd_buf[..., :t_len]
            g_u[..., sl] = gu_buf[..., :t_len]
            g_b[..., sl] = gb_buf[..., :t_len]
            if g_c is not None:
                g_c[..., sl] = gc_buf[..., :t_len]
        return g_u, g_delta, g_a, g_b, g_c, None


def scan_numba(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor | None,
    *,
    return_states: bool = False,
) -> tuple[Tensor, Tensor]:
    """Differentiable core scan on CPU (float32/float64): (y or states, last state)."""
    return _NumbaScan.apply(u, delta, A.contiguous(), B, C, return_states)
