"""The single-pass float32 CPU kernel (kernels/scan_simd.py): its math, its scan, its routing.

The polynomial exp / log1p / softplus are checked against float64 over their whole domain;
the scan against the float64 reference and against the chunked numba path, on shapes that
cross its 8-row groups and 1024-step tiles; threads must not change a single bit.
"""

from __future__ import annotations

import itertools
import multiprocessing
import re
from typing import Any

import numba
import numpy as np
import pytest
import torch

from vzoo.kernels import (
    scan_numba,
    scan_simd,
    selective_scan,
    selective_scan_states,
    selective_scan_states_tokens,
    selective_scan_tokens,
)
from vzoo.kernels.selective_scan import selective_scan_reference


@numba.njit
def _apply_exp(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.shape[0]):
        out[i] = scan_simd.fast_exp(x[i])


@numba.njit
def _apply_softplus(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.shape[0]):
        out[i] = scan_simd.fast_softplus(x[i])


@numba.njit
def _apply_log1p(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.shape[0]):
        out[i] = scan_simd.fast_log1p_unit(x[i])


def _run(fn: Any, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    fn(x, out)
    return out


def test_fast_exp_is_float32_accurate() -> None:
    x = np.linspace(-87.0, 0.0, 400_001, dtype=np.float32)
    got = _run(_apply_exp, x).astype(np.float64)
    rel = np.abs(got / np.exp(x.astype(np.float64)) - 1)
    assert rel.max() <= 2e-7
    assert got[-1] == 1.0  # exp(0) exactly


def test_fast_exp_below_the_normal_range_and_nan() -> None:
    x = np.array([-87.5, -100.0, -1e30, -np.inf, np.nan], dtype=np.float32)
    got = _run(_apply_exp, x)
    assert np.all((got[:4] >= 0) & (got[:4] <= 1.7e-38))  # absolute error < 2e-38
    assert np.isnan(got[4])


def test_fast_log1p_on_the_unit_interval() -> None:
    q = np.concatenate([np.linspace(0, 1, 200_001), np.logspace(-38, -1, 2000)]).astype(np.float32)
    got = _run(_apply_log1p, q).astype(np.float64)
    want = np.log1p(q.astype(np.float64))
    nz = want > 0
    assert np.max(np.abs(got[nz] / want[nz] - 1)) <= 2.5e-7
    assert got[~nz].tolist() == [0.0] * int((~nz).sum())


def test_fast_softplus_matches_mamba_softplus() -> None:
    """Against F.softplus (threshold 20) in float64, relative, over every regime: the log1p
    tail far below 0, the crossover, the identity above the threshold."""
    x = np.concatenate([np.linspace(-86, 86, 400_001), [-20.5, 19.99, 20.0, 20.01, 1e4]])
    x = x.astype(np.float32)
    got = _run(_apply_softplus, x).astype(np.float64)
    want = torch.nn.functional.softplus(torch.from_numpy(x).double()).numpy()
    assert np.max(np.abs(got / want - 1)) <= 3e-7
    nan = _run(_apply_softplus, np.array([np.nan], np.float32))
    assert np.isnan(nan[0])


# ---- the scan ---------------------------------------------------------------------------------


def _inputs(bsz: int, dim: int, length: int, groups: int, seed: int = 0) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)
    return {
        "u": torch.randn(bsz, dim, length, generator=g),
        "delta": torch.randn(bsz, dim, length, generator=g) * 1.5 - 1,
        "A": -torch.rand(dim, 1, generator=g) * 3,
        "B": torch.randn(bsz, groups, 1, length, generator=g),
        "C": torch.randn(bsz, groups, 1, length, generator=g),
        "D": torch.randn(dim, generator=g),
        "z": torch.randn(bsz, dim, length, generator=g) * 3,
        "delta_bias": torch.randn(dim, generator=g),
    }


def _scan(inp: dict[str, Any], backend: str, use: set[str], **kw: Any) -> Any:
    opt = {k: (inp[k] if k in use else None) for k in ("D", "z", "delta_bias")}
    return selective_scan(
        inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], opt["D"], opt["z"],
        opt["delta_bias"], True, backend=backend, **kw,
    )  # fmt: skip


def _close(x: torch.Tensor, ref: torch.Tensor, tol: float) -> bool:
    return bool(((x.double() - ref.double()).abs().max() / ref.abs().max()).item() <= tol)


@pytest.fixture
def simd_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """Record every call of the kernel (the shape of u), to prove which path ran."""
    calls: list[tuple[int, ...]] = []
    real = scan_simd.scan_simd

    def spy(u: torch.Tensor, *args: Any) -> Any:
        calls.append(tuple(u.shape))
        return real(u, *args)

    monkeypatch.setattr(scan_simd, "scan_simd", spy)
    return calls


# (batch, D, L, G): rows not a multiple of 8, several batches and groups, L below / above /
# not a multiple of the 1024-step tile, a single step
SCAN_SHAPES = [(1, 16, 100, 1), (2, 13, 2500, 1), (2, 12, 1025, 3), (1, 5, 7, 1), (3, 24, 1, 4)]
OPTIONS = [set(), {"delta_bias"}, {"D", "delta_bias"}, {"D", "z", "delta_bias"}]


@pytest.mark.parametrize("shape", SCAN_SHAPES)
@pytest.mark.parametrize("use", OPTIONS, ids=lambda s: "+".join(sorted(s)) or "none")
def test_scan_matches_float64_reference_and_chunked_path(
    shape: tuple[int, int, int, int],
    use: set[str],
    simd_calls: list[tuple[int, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inp = _inputs(*shape)
    y, last = _scan(inp, "torch", use, return_last_state=True)
    assert simd_calls == [tuple(inp["u"].shape)]
    assert y.dtype == last.dtype == torch.float32 and last.shape == (shape[0], shape[1], 1)
    y_ref, last_ref = _scan(
        {k: v.double() for k, v in inp.items()}, "reference", use, return_last_state=True
    )
    assert _close(y, y_ref, 1e-5) and _close(last, last_ref, 1e-5)
    monkeypatch.setenv("VZOO_SCAN_SIMD", "0")
    y_chunked = _scan(inp, "torch", use)
    assert len(simd_calls) == 1  # the switch turned it off
    assert _close(y, y_chunked, 1e-5)


@pytest.mark.parametrize("shape", SCAN_SHAPES)
def test_states_match_float64_reference(
    shape: tuple[int, int, int, int], simd_calls: list[tuple[int, ...]]
) -> None:
    inp = _inputs(*shape, seed=1)
    keys = ("u", "delta", "A", "B", "delta_bias")
    states = selective_scan_states(*(inp[k] for k in keys), True, backend="torch")
    assert simd_calls and states.shape == (shape[0], shape[1], 1, shape[2])
    ref = selective_scan_states(*(inp[k].double() for k in keys), True, backend="reference")
    assert _close(states, ref, 1e-5)


def _float64(i: dict[str, Any]) -> dict[str, Any]:
    return {k: v.double() for k, v in i.items()}


def _growing(i: dict[str, Any]) -> dict[str, Any]:
    return {**i, "A": i["A"].abs() * 0.01}


def _d_state_4(i: dict[str, Any]) -> dict[str, Any]:
    wide = {k: i[k].expand(-1, -1, 4, -1) for k in ("B", "C")}
    return {**i, **wide, "A": i["A"].expand(-1, 4).contiguous()}


@pytest.mark.parametrize(
    ("change", "tol"),
    [(_float64, 1e-10), (_growing, 1e-4), (_d_state_4, 1e-4)],
    ids=["float64", "A>0", "d_state-4"],
)
def test_other_cases_take_the_chunked_path(
    change: Any, tol: float, simd_calls: list[tuple[int, ...]]
) -> None:
    """float64 computes in float64; A > 0 could give positive exp arguments; d_state > 1."""
    inp = change(_inputs(1, 8, 50, 1))
    y = _scan(inp, "torch", {"D", "delta_bias"})
    assert simd_calls == []
    assert y.shape == (1, 8, 50)
    ref = _scan({k: v.double() for k, v in inp.items()}, "reference", {"D", "delta_bias"})
    assert _close(y, ref, tol)


def test_no_softplus_takes_the_chunked_path(simd_calls: list[tuple[int, ...]]) -> None:
    inp = _inputs(1, 8, 50, 1)
    selective_scan(inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], backend="torch")
    assert simd_calls == []


def test_half_inputs_run_in_float32(simd_calls: list[tuple[int, ...]]) -> None:
    inp = _inputs(2, 10, 300, 2, seed=3)
    half = {k: (v.bfloat16() if k in ("u", "delta", "z") else v) for k, v in inp.items()}
    y = _scan(half, "torch", {"D", "z", "delta_bias"})
    assert simd_calls and y.dtype == torch.bfloat16
    exact = {k: v.float().double() for k, v in half.items()}
    ref = _scan(exact, "reference", {"D", "z", "delta_bias"})
    assert _close(y, ref.bfloat16(), 1e-2)


def test_nan_propagates_like_the_reference() -> None:
    inp = _inputs(1, 9, 60, 1, seed=4)
    inp["u"][0, 3, 20] = float("nan")
    inp["delta"][0, 7, 40] = float("nan")
    y = _scan(inp, "torch", {"D", "delta_bias"})
    ref = _scan(inp, "reference", {"D", "delta_bias"})
    assert torch.equal(torch.isnan(y), torch.isnan(ref))
    assert torch.isnan(y[0, 3, 20:]).all() and torch.isnan(y[0, 7, 40:]).all()
    assert not torch.isnan(y[0, 3, :20]).any() and torch.isfinite(y[0, :3]).all()


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_do_not_change_a_bit(threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_simd, "MIN_ELEMENTS_PER_THREAD", 64)
    inp = _inputs(2, 21, 700, 3, seed=5)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert len(scan_simd._row_ranges(42, 700, 1)) == 1
        y1, h1 = _scan(inp, "torch", {"D", "z", "delta_bias"}, return_last_state=True)
        torch.set_num_threads(threads)
        assert len(scan_simd._row_ranges(42, 700, threads)) == threads
        yn, hn = _scan(inp, "torch", {"D", "z", "delta_bias"}, return_last_state=True)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(y1, yn) and torch.equal(h1, hn)


@pytest.mark.parametrize(("rows", "threads"), [(1, 4), (8, 2), (42, 2), (42, 3), (1000, 7)])
def test_row_ranges_cover_every_row_once_in_whole_groups(rows: int, threads: int) -> None:
    ranges = scan_simd._row_ranges(rows, 10**6, threads)
    assert ranges[0][0] == 0 and ranges[-1][1] == rows
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert all(lo % 8 == 0 and hi > lo for lo, hi in ranges)
    assert len(ranges) == min(threads, -(-rows // 8))


def test_fused_entry_point_over_several_tiles() -> None:
    """scan_numba_fused (what the operator calls for inference) hands over to the kernel and
    returns its output and last state; 5000 steps = four full tiles and a ragged one."""
    inp = _inputs(1, 16, 5000, 1, seed=6)
    y, h = scan_numba.scan_numba_fused(
        inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], inp["D"], None,
        inp["delta_bias"], True,
    )  # fmt: skip
    ref_y, ref_h = selective_scan_reference(
        *(inp[k].double() for k in ("u", "delta", "A", "B", "C", "D")), None,
        inp["delta_bias"].double(), True, return_last_state=True,
    )  # fmt: skip
    assert _close(y, ref_y, 1e-5) and _close(h, ref_h, 1e-5)


def test_every_loop_of_the_kernel_vectorises() -> None:
    """The speed rests on LLVM vectorising, inside _scan_rows, the seven loops of the inlined
    prepare+emit (three fused modes, the lone preparation, three lone emits) and the three of
    the last tile's emit, all with contiguous loads. Easy to lose without an error: a signed
    offset keeps numba's negative-index wrap-around (then LLVM vectorises with gathers, ~8x
    slower), an array handed to an inlined helper can put reference-count calls in a loop.
    A fresh (uncached) compile, its optimised IR inspected."""
    fresh = numba.njit(**{**scan_simd._JIT, "cache": False})(scan_simd._scan_rows.py_func)
    a, v, none = np.zeros((16, 40), np.float32), np.zeros(16, np.float32), np.zeros((1, 0))
    fresh(a, a, none.astype(np.float32), a[:1], a[:1], v, v, v, 16, 1, False, False, a.copy(),
          v.copy(), 0, 16)  # fmt: skip
    llvm_ir = fresh.inspect_llvm(fresh.signatures[0])
    assert len(re.findall(r"^vector\.body\d*:", llvm_ir, re.MULTILINE)) >= 10
    assert "masked.gather" not in llvm_ir and "masked.scatter" not in llvm_ir


def test_channels_last_inputs_give_the_same_bits() -> None:
    """Spatial-Mamba hands u over as a (b, D, L) view of channels-last memory; the kernel's
    fast transposing copy must give exactly what a contiguous u gives (batch 2: per-batch)."""
    inp = _inputs(2, 24, 300, 1, seed=7)
    channels_last = inp["u"].transpose(1, 2).contiguous().transpose(1, 2)
    assert not channels_last.is_contiguous() and torch.equal(channels_last, inp["u"])
    keys = ("delta", "A", "B", "delta_bias")
    want = selective_scan_states(inp["u"], *(inp[k] for k in keys), True, backend="torch")
    got = selective_scan_states(channels_last, *(inp[k] for k in keys), True, backend="torch")
    assert torch.equal(got, want)


def _token_inputs(batch: int, dim: int, length: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "u": torch.randn(batch, length, dim, generator=g),
        "delta": torch.randn(batch, length, dim, generator=g) * 0.5,
        "A": -torch.rand(dim, 1, generator=g) * 2,
        "B": torch.randn(batch, length, 1, generator=g),
        "C": torch.randn(batch, length, 1, generator=g),
        "D": torch.randn(dim, generator=g),
        "delta_bias": torch.randn(dim, generator=g) * 0.1,
    }


@pytest.mark.parametrize("states", [True, False], ids=["states", "y"])
@pytest.mark.parametrize(
    ("shape", "threads"),
    [((1, 16, 100), 1), ((2, 13, 2500), 2), ((1, 40, 37), 2), ((3, 24, 1), 3), ((1, 512, 300), 2)],
)
def test_token_major_scan_gives_the_row_kernels_bits(
    shape: tuple[int, int, int], threads: int, states: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """u, delta (b, L, D): the token-major kernel (channels as lanes, any thread split) gives
    exactly the states, resp. y = h * C + D * u, that the row kernel gives on the transposed
    tensors, and is what ran."""
    batch, dim, length = shape
    inp = _token_inputs(batch, dim, length, seed=sum(shape))
    u_t, delta_t, b_t, c_t = (inp[k].transpose(1, 2) for k in ("u", "delta", "B", "C"))
    if states:
        want = selective_scan_states(
            u_t, delta_t, inp["A"], b_t, inp["delta_bias"], True, backend="torch"
        ).permute(0, 3, 1, 2)
    else:
        want = selective_scan(
            u_t, delta_t, inp["A"], b_t.contiguous(), c_t.contiguous(), inp["D"], None,
            inp["delta_bias"], True, backend="torch",
        ).transpose(1, 2)  # fmt: skip
    calls = []
    real = scan_simd.scan_simd_tokens
    monkeypatch.setattr(scan_simd, "scan_simd_tokens", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    args = (inp["u"], inp["delta"], inp["A"], inp["B"])
    if states:
        got = selective_scan_states_tokens(*args, inp["delta_bias"], True, backend="torch")
    else:
        got = selective_scan_tokens(
            *args, inp["C"], inp["D"], inp["delta_bias"], True, backend="torch"
        )
    assert calls == [1] and got.shape == want.shape
    assert torch.equal(got, want)


def test_token_major_scans_elsewhere_transpose_and_match_float64() -> None:
    """float64 and autograd take `selective_scan(_states)` on transposed views: the same
    function (against the sequential float64 reference), gradients flow."""
    inp = {k: v.double() for k, v in _token_inputs(2, 8, 50, seed=3).items()}
    u_t, delta_t, b_t, c_t = (inp[k].transpose(1, 2) for k in ("u", "delta", "B", "C"))
    got = selective_scan_states_tokens(
        inp["u"], inp["delta"], inp["A"], inp["B"], inp["delta_bias"], True, backend="torch"
    )
    ref = selective_scan_states(
        u_t, delta_t, inp["A"], b_t, inp["delta_bias"], True, backend="reference"
    ).permute(0, 3, 1, 2)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    got_y = selective_scan_tokens(
        inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], inp["D"], inp["delta_bias"], True
    )
    ref_y = selective_scan_reference(
        u_t, delta_t, inp["A"], b_t, c_t, inp["D"], None, inp["delta_bias"], True
    )
    assert isinstance(ref_y, torch.Tensor)
    torch.testing.assert_close(got_y, ref_y.transpose(1, 2), rtol=1e-12, atol=1e-12)
    u = _token_inputs(1, 8, 20, seed=4)
    u["u"].requires_grad_(True)
    selective_scan_tokens(
        u["u"], u["delta"], u["A"], u["B"], u["C"], None, None, True
    ).sum().backward()
    assert u["u"].grad is not None and torch.isfinite(u["u"].grad).all()


def test_token_major_kernel_vectorises_over_the_channels() -> None:
    """Its speed is the channel loops running as vectors with contiguous loads (no gathers)."""
    fresh = numba.njit(**{**scan_simd._JIT, "cache": False})(scan_simd._scan_tokens.py_func)
    a, v = np.zeros((1, 5, 64), np.float32), np.zeros(64, np.float32)
    bc = np.zeros((1, 5), np.float32)
    for states in (True, False):
        fresh(a, a, bc, bc, v, v, v, states, a.copy(), np.zeros((1, 64), np.float32), 0, 1, 0, 64)
    llvm_ir = fresh.inspect_llvm(fresh.signatures[0])
    assert len(re.findall(r"^vector\.body\d*:", llvm_ir, re.MULTILINE)) >= 2
    assert "masked.gather" not in llvm_ir and "masked.scatter" not in llvm_ir


def _threaded_scan_in_child(queue: Any) -> None:
    inp = _inputs(1, 32, 400, 1, seed=8)
    torch.set_num_threads(2)
    y = _scan(inp, "torch", {"D", "delta_bias"})
    queue.put(float(y.abs().sum()))


def test_a_forked_child_can_use_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent has started the scan's thread pool; a fork()ed child must not wait on the
    parent's (absent) worker threads."""
    monkeypatch.setattr(scan_simd, "MIN_ELEMENTS_PER_THREAD", 64)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        _scan(_inputs(1, 32, 400, 1), "torch", {"D"})
        assert scan_simd._pool.cache_info().currsize >= 1  # the parent has a pool
    finally:
        torch.set_num_threads(old)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_threaded_scan_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("the threaded scan hung in a forked child")
    assert child.exitcode == 0 and queue.get(timeout=5) > 0
