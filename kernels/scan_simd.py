"""Single-pass float32 CPU forward for d_state == 1 (the VMamba-v2-style T models), numba.

Why a separate kernel: at d_state 1 every element of the scan needs two exps and a log1p
(softplus(delta + bias), then exp(delta * A)) against one multiply-add of recurrence, so the
transcendental functions are the cost. libm's are scalar calls; torch's SIMD ones need a pass
over memory each. Here they are polynomials that LLVM vectorises (range reduction, float32
constants, the 2^k scale built from exponent bits, no division), fused with the bias, softplus,
delta * u * B and the recurrence into one pass over 1024-step tiles that stay in cache: delta,
u, B (and C, z) are read once and the output is written once.

Per group of 8 rows and per tile: (1) one vectorised loop per row prepares the decays and
drives of this tile and writes the row's output of the previous tile (the arithmetic and the
store stream overlap); (2) the 8 recurrences run interleaved, independent chains that hide the
multiply-add latency, into a state buffer. Row ranges go to torch.get_num_threads() threads.

Accuracy (tested against float64): `fast_exp` within 1.2e-7 relative on [-87, 0],
`fast_log1p_unit` within 2.1e-7 on [0, 1], `fast_softplus` within 3e-7. Preconditions
(`applicable`): float32, d_state 1, softplus on and A <= 0, so every exp argument is <= 0.

Arrays (C-contiguous): u, delta, z: (rows, L) with rows = batch * D; B, C: (batch * G, L).
"""

from __future__ import annotations

import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
import torch
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic
from torch import Tensor

from vzoo import settings

TILE = 1024  # time steps per tile: 8 rows x 3 float32 buffers x 1024 = 96 KiB, L1/L2-resident
_JIT = {
    "nogil": True,
    "cache": True,
    "boundscheck": False,
    "error_model": "numpy",  # no zero-division check: it would stop vectorisation of x / y
    "fastmath": {"contract"},  # fused multiply-adds; no reassociation (the rounding trick)
}

_F = np.float32
_LOG2E = _F(1.4426950408889634)
_LN2_HI, _LN2_LO = _F(0.693359375), _F(-2.12194440e-4)  # Cody-Waite split of ln 2
# exp(r) on |r| <= ln2 / 2: degree-6 weighted least-squares fit (relative error 1.9e-9 in
# float64; the whole fast_exp is within 1.2e-7 of exp in float32, tested)
_EXP_POLY = tuple(_F(c) for c in (1.0, 1.0, 0.49999991059303284, 0.16666419804096222,
                                  0.04166822507977486, 0.008374815806746483,
                                  0.00138368911575526))  # fmt: skip
_EXP_MIN = _F(-87.0)  # exp(-87) = 1.6e-38, the float32 normal range's floor
_ROUND = _F(12582912.0)  # 1.5 * 2^23: adding it rounds to an integer, held in the low bits
_EXP_BIAS = np.int32(127 << 23)
_LOG1P_POLY = tuple(_F(c) for c in (0.9999999403953552, -0.4999949336051941, 0.3331909775733948,
                                    -0.24842983484268188, 0.1910601109266281, -0.1366325467824936,
                                    0.07822605222463608, -0.029505299404263496,
                                    0.005232709459960461))  # fmt: skip
_ZERO, _ONE = _F(0.0), _F(1.0)
_E0, _E1, _E2, _E3, _E4, _E5, _E6 = _EXP_POLY
_L0, _L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8 = _LOG1P_POLY


@intrinsic
def _bits_as_float32(typingctx: object, bits: types.Type) -> tuple[object, object]:
    """Reinterpret int32 bits as a float32 (an LLVM bitcast: vectorisable, no memory trip)."""
    sig = types.float32(types.int32)

    def codegen(context: object, builder: ir.IRBuilder, signature: object, args: list) -> object:
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def _float32_bits(typingctx: object, value: types.Type) -> tuple[object, object]:
    """The bits of a float32 as an int32 (an LLVM bitcast)."""
    sig = types.int32(types.float32)

    def codegen(context: object, builder: ir.IRBuilder, signature: object, args: list) -> object:
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@intrinsic
def _prefer_wide_vectors(typingctx: object) -> tuple[object, object]:
    """Let LLVM vectorise the calling function with 512-bit registers where the CPU has them.

    LLVM's x86 tuning prefers 256-bit vectors even on AVX-512 CPUs (clock throttling on early
    ones); for these arithmetic-bound loops 512 bits measured ~30% faster here. The function
    attribute overrides the tuning for this function only (on CPUs without AVX-512 it is a
    no-op). llvmlite's attribute set only admits flag attributes, hence the plain set.add; if
    its internals change the hint is skipped and only speed is lost.
    """
    sig = types.none()

    def codegen(context: Any, builder: ir.IRBuilder, signature: object, args: list) -> object:
        attrs = builder.function.attributes
        if isinstance(attrs, set):
            set.add(attrs, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(inline="always", **_JIT)
def fast_exp(v: float) -> float:
    """exp(v) for float32 v <= 0; below -87 (where exp is subnormal) it returns exp(-87) =
    1.6e-38: an absolute error under 2e-38, which no caller can see. NaN stays NaN."""
    w = _EXP_MIN if v < _EXP_MIN else v  # this order keeps a NaN (max() would drop it)
    t = w * _LOG2E + _ROUND  # t = 1.5 * 2^23 + k, k = round(w / ln 2), k in the low bits
    k = t - _ROUND
    r = w - k * _LN2_HI - k * _LN2_LO  # |r| <= ln2 / 2
    p = (((((_E6 * r + _E5) * r + _E4) * r + _E3) * r + _E2) * r + _E1) * r + _E0
    # 2^k: shifting t's bits left by 23 drops everything but k (1.5 * 2^23's bits vanish)
    return p * _bits_as_float32((_float32_bits(t) << np.int32(23)) + _EXP_BIAS)


@numba.njit(inline="always", **_JIT)
def fast_log1p_unit(q: float) -> float:
    """log1p(q) for float32 q in [0, 1]: q * P(q), P the degree-8 weighted least-squares fit
    of log1p(q) / q on [0, 1] (relative error <= 2.1e-7 in float32; a polynomial, not
    2 atanh(q / (2 + q)), because a vector division costs as much as the whole polynomial)."""
    p = _L8 * q + _L7
    p = p * q + _L6
    p = p * q + _L5
    p = p * q + _L4
    p = p * q + _L3
    p = p * q + _L2
    p = p * q + _L1
    return (p * q + _L0) * q


@numba.njit(inline="always", **_JIT)
def fast_softplus(x: float) -> float:
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|), float32. Mamba's threshold (x > 20 -> x) is
    this value rounded to float32."""
    return max(x, _ZERO) + fast_log1p_unit(fast_exp(-abs(x)))


_STATES, _Y, _Y_GATED = 0, 1, 2  # what a tile's output is: the states, y, y * silu(z)


@numba.njit(inline="always", **_JIT)
def _prepare_step(delta: float, u: float, b: float, bias: float, a: float) -> tuple[float, float]:
    """(decay, drive) = (exp(dt * A), dt * u * B) with dt = softplus(delta + bias).

    Scalars in, scalars out: an array passed to an inlined function inside a loop brings
    reference-count calls into the loop body, and a loop with calls is not vectorised.
    """
    dt = fast_softplus(delta + bias)
    return fast_exp(dt * a), dt * u * b


@numba.njit(inline="always", **_JIT)
def _silu(z: float) -> float:
    """z / (1 + e^-z), with e^-|z| from fast_exp (which wants arguments <= 0)."""
    e = fast_exp(-abs(z))
    return z / (_ONE + e) if z >= _ZERO else z * e / (_ONE + e)


# Two rules for the loops below, each worth a large factor. (1) Offsets and loop indices are
# unsigned (np.uint64): numba wraps negative indices, and with a signed offset LLVM cannot
# prove an index >= 0 and vectorises with gathers (~8x slower). (2) Whole 2-D arrays and row
# numbers are passed, never slices, and the helpers are inlined into _scan_rows: slices and
# calls bring reference counting (atomic increments), ~15% of the profile at a few per row
# per tile.


@numba.njit(inline="always", **_JIT)
def _prepare(
    delta: np.ndarray, u: np.ndarray, bm: np.ndarray, r: int, g: int, bias: float, a: float,
    t0: int, lo: int, hi: int, decay: np.ndarray, drive: np.ndarray, j: int,
) -> None:  # fmt: skip
    """decay[j, t], drive[j, t] for t in [lo, hi) of the tile at t0 (row r, B row g)."""
    _prefer_wide_vectors()
    for t in range(lo, hi):
        i = t0 + t
        decay[j, t], drive[j, t] = _prepare_step(delta[r, i], u[r, i], bm[g, i], bias, a)


@numba.njit(inline="always", **_JIT)
def _emit(
    hbuf: np.ndarray, j: int, cm: np.ndarray, u: np.ndarray, z: np.ndarray, r: int, g: int,
    d: float, mode: int, p0: int, lo: int, hi: int, out: np.ndarray,
) -> None:  # fmt: skip
    """out[r, p0 + t] for t in [lo, hi) from the states hbuf[j]: the states themselves, or
    y = (h * C + D * u) (* silu(z))."""
    _prefer_wide_vectors()
    if mode == _STATES:
        for t in range(lo, hi):
            out[r, p0 + t] = hbuf[j, t]
    elif mode == _Y:
        for t in range(lo, hi):
            i = p0 + t
            out[r, i] = hbuf[j, t] * cm[g, i] + d * u[r, i]
    else:
        for t in range(lo, hi):
            i = p0 + t
            out[r, i] = (hbuf[j, t] * cm[g, i] + d * u[r, i]) * _silu(z[r, i])


@numba.njit(inline="always", **_JIT)
def _prepare_and_emit(
    delta: np.ndarray, u: np.ndarray, z: np.ndarray, bm: np.ndarray, cm: np.ndarray,
    r: int, g: int, bias: float, a: float, d: float, mode: int,
    t0: int, n: int, p0: int, m: int,
    decay: np.ndarray, drive: np.ndarray, hbuf: np.ndarray, j: int, out: np.ndarray,
) -> None:  # fmt: skip
    """Prepare row r of the tile at t0 (n steps) and write its output of the previous tile
    (at p0, m steps, from the states hbuf[j]) in the same loop.

    Why one loop: the preparation is arithmetic-bound and the output is a stream to memory;
    fused, the out-of-order core overlaps the two (measured 27 -> 21 ms at MSVMamba-T's COCO
    stage 1), where one after the other each waits for its own bottleneck.
    """
    _prefer_wide_vectors()
    k = min(n, m)
    if mode == _STATES:
        for t in range(k):
            i = t0 + t
            decay[j, t], drive[j, t] = _prepare_step(delta[r, i], u[r, i], bm[g, i], bias, a)
            out[r, p0 + t] = hbuf[j, t]
    elif mode == _Y:
        for t in range(k):
            i, ip = t0 + t, p0 + t
            decay[j, t], drive[j, t] = _prepare_step(delta[r, i], u[r, i], bm[g, i], bias, a)
            out[r, ip] = hbuf[j, t] * cm[g, ip] + d * u[r, ip]
    else:
        for t in range(k):
            i, ip = t0 + t, p0 + t
            decay[j, t], drive[j, t] = _prepare_step(delta[r, i], u[r, i], bm[g, i], bias, a)
            out[r, ip] = (hbuf[j, t] * cm[g, ip] + d * u[r, ip]) * _silu(z[r, ip])
    # the longer of the two goes on alone
    _prepare(delta, u, bm, r, g, bias, a, t0, k, n, decay, drive, j)
    _emit(hbuf, j, cm, u, z, r, g, d, mode, p0, k, m, out)


@numba.njit(inline="always", **_JIT)
def _bc_row(r: int, dim: int, groups: int) -> int:
    """Row of the (batch * G, L) B / C arrays that channel row r = batch * D + d uses."""
    bi = r // dim
    return bi * groups + (r - bi * dim) // (dim // groups)


@numba.njit(**_JIT)
def _scan_rows(
    delta: np.ndarray,  # (rows, L)
    u: np.ndarray,  # (rows, L)
    z: np.ndarray,  # (rows, L) or a dummy when not has_z
    bm: np.ndarray,  # (batch * G, L)
    cm: np.ndarray,  # (batch * G, L) or a dummy in states mode
    bias: np.ndarray,  # (D,)
    a_vec: np.ndarray,  # (D,) A[:, 0]
    d_vec: np.ndarray,  # (D,) skip weights (zeros when absent)
    dim: int,
    groups: int,
    states: bool,  # write every state to out, else y
    has_z: bool,
    out: np.ndarray,  # (rows, L): y or the states
    last: np.ndarray,  # (rows,) the final state
    r_begin: int,  # this call's rows: [r_begin, r_end)
    r_end: int,
) -> None:
    """Per group of 8 rows, per tile: prepare the tile (and emit the previous tile's output),
    then run the 8 recurrences into the state buffer; the last tile is emitted at the end."""
    length = u.shape[1]
    mode = _STATES if states else (_Y_GATED if has_z else _Y)
    decay = np.empty((8, TILE), np.float32)
    drive = np.empty((8, TILE), np.float32)
    hbuf = np.empty((8, TILE), np.float32)
    a0, a1, a2, a3, a4, a5, a6, a7 = decay[0], decay[1], decay[2], decay[3], decay[4], \
        decay[5], decay[6], decay[7]  # fmt: skip
    x0, x1, x2, x3, x4, x5, x6, x7 = drive[0], drive[1], drive[2], drive[3], drive[4], \
        drive[5], drive[6], drive[7]  # fmt: skip
    o0, o1, o2, o3, o4, o5, o6, o7 = hbuf[0], hbuf[1], hbuf[2], hbuf[3], hbuf[4], hbuf[5], \
        hbuf[6], hbuf[7]  # fmt: skip
    zero = np.uint64(0)
    for r0 in range(r_begin, r_end, 8):
        real = min(8, r_end - r0)
        # a short last group repeats its last row in the recurrence (valid numbers, never
        # written out): the 8 chains stay branch-free
        h0 = h1 = h2 = h3 = h4 = h5 = h6 = h7 = _ZERO
        p0 = pn = zero  # the previous tile: [p0, p0 + pn), its states in hbuf, not yet written
        for t_start in range(0, length, TILE):
            t0 = np.uint64(t_start)
            n = np.uint64(min(length - t_start, TILE))
            for j in range(8):
                if j < real:
                    r = r0 + j
                    d = r % dim
                    _prepare_and_emit(
                        delta, u, z, bm, cm, r, _bc_row(r, dim, groups), bias[d], a_vec[d],
                        d_vec[d], mode, t0, n, p0, pn, decay, drive, hbuf, j, out,
                    )  # fmt: skip
                else:  # a repeated row: the same decays and drives as the last real one
                    decay[j] = decay[real - 1]
                    drive[j] = drive[real - 1]
            for t in range(n):  # eight independent chains: throughput, not latency, bound
                h0 = a0[t] * h0 + x0[t]
                o0[t] = h0
                h1 = a1[t] * h1 + x1[t]
                o1[t] = h1
                h2 = a2[t] * h2 + x2[t]
                o2[t] = h2
                h3 = a3[t] * h3 + x3[t]
                o3[t] = h3
                h4 = a4[t] * h4 + x4[t]
                o4[t] = h4
                h5 = a5[t] * h5 + x5[t]
                o5[t] = h5
                h6 = a6[t] * h6 + x6[t]
                o6[t] = h6
                h7 = a7[t] * h7 + x7[t]
                o7[t] = h7
            p0, pn = t0, n
        for j in range(real):
            r = r0 + j
            _emit(
                hbuf, j, cm, u, z, r, _bc_row(r, dim, groups), d_vec[r % dim], mode, p0, zero,
                pn, out,
            )  # fmt: skip
        hs = (h0, h1, h2, h3, h4, h5, h6, h7)
        for j in range(real):
            last[r0 + j] = hs[j]


def enabled() -> bool:
    """VZOO_SCAN_SIMD=0 turns this kernel off (then the chunked numba path runs): for
    benchmarks and for bisecting a numerical difference."""
    return settings.scan_simd()


def applicable(A: Tensor, delta_softplus: bool) -> bool:
    """float32, d_state 1, softplus on, A <= 0 (then every exp argument is <= 0)."""
    return (
        A.dtype == torch.float32
        and A.shape[1] == 1
        and delta_softplus
        and A.device.type == "cpu"
        and bool((A <= 0).all())
    )


def _np2(t: Tensor, rows: int) -> np.ndarray:
    """t as a C-contiguous float32 (rows, -1) array: a view when it already is one."""
    t = t.detach().to(torch.float32)
    if not t.is_contiguous() and t.dim() == 3 and t.stride(1) == 1 and t.stride(2) == t.shape[1]:
        # (b, D, L) over channels-last memory (Spatial-Mamba's conv output): torch's generic
        # copy walks it element by element across cache lines (~70 ms at D=128, L=64000);
        # per-batch 2-D copies take its blocked transpose path (~8 ms)
        dense = torch.empty(t.shape, dtype=t.dtype)
        for i in range(t.shape[0]):
            dense[i].copy_(t[i])
        t = dense
    return t.contiguous().view(rows, -1).numpy()


def scan_simd(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor | None,
    D: Tensor | None,
    z: Tensor | None,
    delta_bias: Tensor | None,
    out: Tensor,
) -> Tensor:
    """Fill `out` ((b, D, L) y when C is given, else (b, D, 1, L) states); return the last
    state (b, D, 1). u, delta, z any float dtype (b, D, L); A (D, 1), B / C (b, G, 1, L),
    D, delta_bias (D,) float32. Needs `applicable(A, True)`."""
    bsz, dim, length = u.shape
    rows, groups = bsz * dim, B.shape[1]
    vec = A.new_zeros(dim)
    none = np.zeros((1, 0), np.float32)  # placeholder for an absent z / C (never read)
    last = A.new_empty(bsz, dim, 1)
    args = (
        _np2(delta, rows), _np2(u, rows), _np2(z, rows) if z is not None else none,
        _np2(B, bsz * groups), _np2(C, bsz * groups) if C is not None else none,
        _np2(delta_bias if delta_bias is not None else vec, 1)[0], _np2(A, 1)[0],
        _np2(D if D is not None else vec, 1)[0], dim, groups, C is None, z is not None,
        out.view(rows, length).numpy(), last.view(rows).numpy(),
    )  # fmt: skip
    _run_on_threads(_scan_rows, args, _row_ranges(rows, length, torch.get_num_threads()))
    return last


MIN_ELEMENTS_PER_THREAD = 1 << 17  # below this a thread's start-up costs more than it saves


def _row_ranges(rows: int, length: int, threads: int) -> list[tuple[int, int]]:
    """Split the rows into at most `threads` ranges of whole 8-row groups, as even as possible
    (torch.get_num_threads() decides, as it does for torch's own CPU ops)."""
    groups = -(-rows // 8)
    parts = max(1, min(threads, groups, rows * length // MIN_ELEMENTS_PER_THREAD))
    cuts = [min(rows, 8 * (groups * i // parts)) for i in range(parts + 1)]
    return [(lo, hi) for lo, hi in itertools.pairwise(cuts) if hi > lo]


def _run_on_threads(kernel: Any, args: tuple[Any, ...], units: list[tuple[int, ...]]) -> None:
    """kernel(*args, *unit) for every unit of work: inline for one, else one Python thread per
    unit (the kernels release the GIL)."""
    if len(units) == 1:
        kernel(*args, *units[0])
        return
    pool = _pool(len(units))
    for job in [pool.submit(kernel, *args, *unit) for unit in units]:
        job.result()


def _f32(t: Tensor) -> np.ndarray:
    """t as a C-contiguous float32 array (a view when it already is one)."""
    return t.detach().to(torch.float32).contiguous().numpy()


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vzoo-scan")


# A forked child inherits the pool object but not its threads, and the executor would count
# the parent's idle workers as its own and never start one: the first threaded scan in the
# child (a DataLoader worker, a forked evaluation) would wait forever. Children start afresh.
os.register_at_fork(after_in_child=_pool.cache_clear)


# ---- token-major (channels-last) states --------------------------------------------------------
# A channels-last model holds u and delta as (batch, L, D). The row kernel above wants (rows, L)
# rows, which costs a transposing copy of each input and of the states per block. Here the time
# loop is outside and the channels are the vector lanes: at each step the D channels are
# contiguous in u, delta and the output, and each is an independent recurrence. Per step, one
# loop prepares decays and drives into small buffers and a second runs the recurrence: the same
# two stages as the row kernel, so the same roundings (the store between them keeps LLVM from
# contracting the drive's product into the recurrence's multiply-add), bit for bit.


@numba.njit(**_JIT)
def _scan_tokens(
    delta: np.ndarray,  # (batch, L, D) float32, C-contiguous
    u: np.ndarray,  # (batch, L, D)
    bm: np.ndarray,  # (batch, L): B at N = G = 1
    cm: np.ndarray,  # (batch, L): C, or a dummy when `states`
    bias: np.ndarray,  # (D,)
    a_vec: np.ndarray,  # (D,) A[:, 0]
    d_vec: np.ndarray,  # (D,) skip weights (zeros when absent)
    states: bool,  # write every state, else y = h * C + D * u
    out: np.ndarray,  # (batch, L, D)
    last: np.ndarray,  # (batch, D): the final state
    b_begin: int,
    b_end: int,
    d_begin: int,
    d_end: int,
) -> None:
    """Channels [d_begin, d_end) of batches [b_begin, b_end)."""
    _prefer_wide_vectors()
    length = np.uint64(u.shape[1])
    lo = np.uint64(d_begin)
    width = np.uint64(d_end - d_begin)
    decay = np.empty(width, np.float32)
    drive = np.empty(width, np.float32)
    h = np.empty(width, np.float32)
    for b in range(np.uint64(b_begin), np.uint64(b_end)):
        for k in range(width):
            h[k] = _ZERO
        for t in range(length):
            bt = bm[b, t]
            for k in range(width):
                d = lo + k
                decay[k], drive[k] = _prepare_step(delta[b, t, d], u[b, t, d], bt, bias[d],
                                                   a_vec[d])  # fmt: skip
            if states:
                for k in range(width):
                    hk = decay[k] * h[k] + drive[k]
                    h[k] = hk
                    out[b, t, lo + k] = hk
            else:
                for k in range(width):
                    h[k] = decay[k] * h[k] + drive[k]
                c_t = cm[b, t]
                for k in range(width):  # the row kernel's emit, term for term
                    out[b, t, lo + k] = h[k] * c_t + d_vec[lo + k] * u[b, t, lo + k]
        for k in range(width):
            last[b, lo + k] = h[k]


def _token_ranges(batch: int, dim: int, length: int, threads: int) -> list[tuple[int, ...]]:
    """(b_begin, b_end, d_begin, d_end) work units for up to `threads` threads: whole batches
    when there are enough, else channel ranges of whole 16-lane groups."""
    parts = max(1, min(threads, batch * dim * length // MIN_ELEMENTS_PER_THREAD))
    if parts == 1:
        return [(0, batch, 0, dim)]
    if batch >= parts:
        cuts = [batch * i // parts for i in range(parts + 1)]
        return [(lo, hi, 0, dim) for lo, hi in itertools.pairwise(cuts) if hi > lo]
    groups = -(-dim // 16)
    per_batch = max(1, parts // batch)
    cuts = [min(dim, 16 * (groups * i // per_batch)) for i in range(per_batch + 1)]
    return [
        (b, b + 1, lo, hi) for b in range(batch) for lo, hi in itertools.pairwise(cuts) if hi > lo
    ]


def scan_simd_tokens(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor | None,
    D: Tensor | None,
    delta_bias: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """Token-major scan of u, delta (batch, L, D) with B, C (batch, L, 1), float32: y = h * C +
    D * u (batch, L, D), or with C None every state (batch, L, D, 1); and the last state
    (batch, D, 1). Needs `applicable(A, True)`; inference only."""
    bsz, length, dim = u.shape
    out = torch.empty(bsz, length, dim, dtype=torch.float32)
    last = torch.empty(bsz, dim, dtype=torch.float32)
    zeros = A.new_zeros(dim)

    args = (
        _f32(delta), _f32(u), _f32(B.reshape(bsz, length)),
        _f32(C.reshape(bsz, length)) if C is not None else np.zeros((1, 0), np.float32),
        _f32(delta_bias if delta_bias is not None else zeros), _f32(A[:, 0]),
        _f32(D if D is not None else zeros), C is None, out.numpy(), last.numpy(),
    )  # fmt: skip
    _run_on_threads(_scan_tokens, args, _token_ranges(bsz, dim, length, torch.get_num_threads()))
    return (out.unsqueeze(-1) if C is None else out), last.unsqueeze(-1)


# ---- the four-direction cross scan, token-major ------------------------------------------------
# VMamba-v2's SS2D scans an H x W map in four orders (rows, columns, both reversed) and sums the
# four outputs back in place. Done as tensors that is a gathered copy of the map per order, four
# delta maps from the per-direction dt projections, four scans over (b, 4D, L) rows, and flips
# and transposes to merge. Here each order is an index walk over the token-major map: at step t
# the kernel reads token p = order_k(t) (D contiguous channels, the vector lanes), forms its
# delta from the token's R low-rank coefficients (R multiply-adds per channel, where the tensor
# path writes and reads back a (4, b, L, D) delta: 77 MB per SparX-T stage-1 block at batch 8),
# and adds its output to token p of the result in cross_merge's order ((y0 + y2) + (y1 + y3)).


@numba.njit(**_JIT)
def _cross_scan_tokens(
    x_dbl: np.ndarray,  # (batch, L, 4, R + 2): per token and direction, dt's R coefficients, B, C
    dt_w: np.ndarray,  # (4, R, D): the dt projections, transposed (channels contiguous)
    u: np.ndarray,  # (batch, L, D)
    bias: np.ndarray,  # (4 * D,)
    a_vec: np.ndarray,  # (4 * D,) A[:, 0]
    d_vec: np.ndarray,  # (4 * D,) skip weights
    height: int,
    width: int,
    out: np.ndarray,  # (batch, L, D): the merged y
    tmp: np.ndarray,  # (batch, L, D): directions 1 + 3 before they join
    b_begin: int,
    b_end: int,
    d_begin: int,
    d_end: int,
) -> None:
    """Channels [d_begin, d_end) of batches [b_begin, b_end), all four directions."""
    _prefer_wide_vectors()
    length = np.uint64(u.shape[1])
    dim = np.uint64(u.shape[2])
    rank = np.uint64(dt_w.shape[1])
    hgt, wid = np.uint64(height), np.uint64(width)
    lo = np.uint64(d_begin)
    width_c = np.uint64(d_end - d_begin)
    dts = np.empty(width_c, np.float32)
    decay = np.empty(width_c, np.float32)
    drive = np.empty(width_c, np.float32)
    h = np.empty(width_c, np.float32)
    one = np.uint64(1)
    for b in range(np.uint64(b_begin), np.uint64(b_end)):
        for k in range(np.uint64(4)):
            dst = out if k % np.uint64(2) == np.uint64(0) else tmp
            add = k >= np.uint64(2)
            base = k * dim + lo  # this direction's parameters: channel k * D + d
            for j in range(width_c):
                h[j] = _ZERO
            for t in range(length):
                s = t if k < np.uint64(2) else length - one - t  # 2, 3: 0, 1 reversed
                p = s if k % np.uint64(2) == np.uint64(0) else (s % hgt) * wid + s // hgt
                for j in range(width_c):  # delta = the dt projection of this token
                    dts[j] = _ZERO
                for r in range(rank):
                    coef = x_dbl[b, p, k, r]
                    for j in range(width_c):
                        dts[j] += coef * dt_w[k, r, lo + j]
                bt = x_dbl[b, p, k, rank]
                for j in range(width_c):
                    decay[j], drive[j] = _prepare_step(
                        dts[j], u[b, p, lo + j], bt, bias[base + j], a_vec[base + j]
                    )
                for j in range(width_c):
                    h[j] = decay[j] * h[j] + drive[j]
                c_t = x_dbl[b, p, k, rank + one]
                if add:
                    for j in range(width_c):
                        y = h[j] * c_t + d_vec[base + j] * u[b, p, lo + j]
                        dst[b, p, lo + j] = dst[b, p, lo + j] + y
                else:
                    for j in range(width_c):
                        dst[b, p, lo + j] = h[j] * c_t + d_vec[base + j] * u[b, p, lo + j]
        for p in range(length):
            for j in range(width_c):
                out[b, p, lo + j] = out[b, p, lo + j] + tmp[b, p, lo + j]


def cross_scan_simd_tokens(
    u: Tensor,
    x_dbl: Tensor,
    dt_projs_weight: Tensor,
    A: Tensor,
    D: Tensor,
    delta_bias: Tensor,
    height: int,
    width: int,
) -> Tensor:
    """The merged four-direction scan of u (batch, L = H * W, D), float32: x_dbl (batch, L, 4,
    R + 2) the per-direction x projections of each token (dt's R coefficients, B, C at N = 1),
    dt_projs_weight (4, D, R), A (4D, 1), D, delta_bias (4D,) -> y (batch, L, D), summed as
    `cross_merge` sums. Needs `applicable(A, True)`."""
    bsz, length, dim = u.shape
    out = torch.empty(bsz, length, dim, dtype=torch.float32)
    tmp = torch.empty_like(out)

    args = (
        _f32(x_dbl), _f32(dt_projs_weight.transpose(1, 2)), _f32(u), _f32(delta_bias),
        _f32(A[:, 0]), _f32(D), height, width, out.numpy(), tmp.numpy(),
    )  # fmt: skip
    units = _token_ranges(bsz, dim, 4 * length, torch.get_num_threads())
    _run_on_threads(_cross_scan_tokens, args, units)
    return out
