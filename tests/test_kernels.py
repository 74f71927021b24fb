"""Selective scan: every backend against the sequential reference, gradients, operators, FLOPs.

Backends under test: `reference`; `torch` (on CPU: the single-pass float32 kernel of
kernels/scan_simd.py where it applies, the chunked numba path with VZOO_SCAN_SIMD=0, and with
VZOO_SCAN_NUMBA=0 the pure-torch chunked scan); `triton` (on CUDA, or in Triton's CPU
interpreter through a subprocess run of this file; skipped when triton is not installed).
Chunk sizes are shrunk so that every test crosses several chunk boundaries.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vzoo.kernels import scan_numba, scan_torch, selective_scan, selective_scan_states
from vzoo.kernels.flop_count import (
    FVCORE_HANDLES,
    flops_selective_scan,
    flops_selective_scan_states,
)
from vzoo.kernels.selective_scan import resolve_backend

ROOT = Path(__file__).resolve().parents[1]

# (batch, D, N, L, G or None for shared (b, N, L) B/C)
SHAPES = [
    (2, 6, 1, 37, None),
    (1, 8, 16, 101, 2),
    (2, 4, 3, 1, 4),
    (1, 5, 2, 130, None),
    (1, 12, 1, 67, 3),
]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a few steps, so every shape above spans many of them (and a ragged last one)."""
    monkeypatch.setattr(scan_numba, "CHUNK_ELEMENTS", 64)
    monkeypatch.setattr(scan_numba, "MIN_CHUNK", 7)
    monkeypatch.setattr(scan_torch, "BLOCK_ELEMENTS", 256)
    monkeypatch.setattr(scan_torch, "SUB", 8)


TRITON_INSTALLED = importlib.util.find_spec("triton") is not None
# Triton picks interpreter or GPU mode when it is imported, so the CPU interpreter runs need
# TRITON_INTERPRET=1 from process start: test_triton_backend re-runs this file that way.
TRITON_HERE = TRITON_INSTALLED and (
    torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"
)
# torch: the default CPU path (the single-pass float32 kernel where it applies, else the
# chunked numba path); torch-chunked: the chunked numba path everywhere; torch-pure: no numba
BACKEND_PARAMS = ["torch", "torch-chunked", "torch-pure"] + (["triton"] if TRITON_HERE else [])


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "triton":
        return "triton"
    monkeypatch.setenv("VZOO_SCAN_NUMBA", "0" if request.param == "torch-pure" else "1")
    monkeypatch.setenv("VZOO_SCAN_SIMD", "0" if request.param == "torch-chunked" else "1")
    return "torch"


def make_inputs(
    shape: tuple[int, int, int, int, int | None],
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    requires_grad: bool = False,
) -> dict[str, Any]:
    bsz, dim, n, length, groups = shape
    g = torch.Generator().manual_seed(seed)

    def rnd(*s: int, scale: float = 1.0) -> torch.Tensor:
        t = (torch.randn(*s, generator=g, dtype=torch.float64) * scale).to(dtype)
        return t.requires_grad_(requires_grad)

    bc = (bsz, n, length) if groups is None else (bsz, groups, n, length)
    a = -(torch.rand(dim, n, generator=g, dtype=torch.float64) * 3 + 0.1)
    return {
        "u": rnd(bsz, dim, length),
        "delta": rnd(bsz, dim, length, scale=0.5),
        "A": a.to(dtype).requires_grad_(requires_grad),
        "B": rnd(*bc),
        "C": rnd(*bc),
        "D": rnd(dim),
        "z": rnd(bsz, dim, length),
        "delta_bias": rnd(dim, scale=0.5),
    }


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    x, ref = x.double(), ref.double()
    return ((x - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def run_scan(inp: dict[str, Any], backend: str, options: dict[str, bool], **kw: Any) -> Any:
    args = dict(inp)
    for name in ("D", "z", "delta_bias"):
        if not options.get(name, False):
            args[name] = None
    return selective_scan(
        args["u"], args["delta"], args["A"], args["B"], args["C"], args["D"], args["z"],
        args["delta_bias"], options.get("softplus", False), backend=backend, **kw,
    )  # fmt: skip


OPTION_SETS = [
    {},
    {"D": True, "z": True, "delta_bias": True, "softplus": True},
    {"D": True, "delta_bias": True, "softplus": True},
]


# ---- forward equality ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("options", OPTION_SETS)
def test_float64_matches_reference(
    backend: str, shape: tuple[int, int, int, int, int | None], options: dict[str, bool]
) -> None:
    inp = make_inputs(shape)
    y_ref, h_ref = run_scan(inp, "reference", options, return_last_state=True)
    y, h = run_scan(inp, backend, options, return_last_state=True)
    assert y.dtype == h.dtype == torch.float64
    assert y.shape == y_ref.shape and h.shape == h_ref.shape == (shape[0], shape[1], shape[2])
    assert rel_err(y, y_ref) <= 1e-10
    assert rel_err(h, h_ref) <= 1e-10


@pytest.mark.parametrize("shape", SHAPES)
def test_states_float64_matches_reference(
    backend: str, shape: tuple[int, int, int, int, int | None]
) -> None:
    inp = make_inputs(shape, seed=1)
    args = (inp["u"], inp["delta"], inp["A"], inp["B"], inp["delta_bias"], True)
    ref = selective_scan_states(*args, backend="reference")
    out = selective_scan_states(*args, backend=backend)
    assert out.shape == (shape[0], shape[1], shape[2], shape[3]) and out.dtype == torch.float64
    assert rel_err(out, ref) <= 1e-10


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_float32_matches_reference(
    backend: str, shape: tuple[int, int, int, int, int | None]
) -> None:
    inp = make_inputs(shape, dtype=torch.float32, seed=2)
    opts = OPTION_SETS[1]
    y_ref, h_ref = run_scan(inp, "reference", opts, return_last_state=True)
    y, h = run_scan(inp, backend, opts, return_last_state=True)
    assert y.dtype == h.dtype == torch.float32
    assert rel_err(y, y_ref) <= 1e-4 and rel_err(h, h_ref) <= 1e-4
    args = (inp["u"], inp["delta"], inp["A"], inp["B"], inp["delta_bias"], True)
    states = selective_scan_states(*args, backend=backend)
    assert rel_err(states, selective_scan_states(*args, backend="reference")) <= 1e-4


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_accumulate_in_float32(backend: str, dtype: torch.dtype) -> None:
    shape = (1, 8, 4, 90, 2)
    inp = make_inputs(shape, dtype=dtype, seed=3)
    opts = OPTION_SETS[1]
    y, h = run_scan(inp, backend, opts, return_last_state=True)
    assert y.dtype == dtype and h.dtype == torch.float32
    # the float32 computation of the same (half-valued) inputs, rounded once at the end
    exact = {k: v.float() for k, v in inp.items()}
    y32, h32 = run_scan(exact, "reference", opts, return_last_state=True)
    assert rel_err(h, h32) <= 1e-4
    assert rel_err(y, y32.to(dtype)) <= (4e-3 if dtype == torch.float16 else 2e-2)
    states = selective_scan_states(
        inp["u"], inp["delta"], inp["A"], inp["B"], inp["delta_bias"], True, backend=backend
    )
    assert states.dtype == torch.float32
    ref = selective_scan_states(
        exact["u"], exact["delta"], exact["A"], exact["B"], exact["delta_bias"], True,
        backend="reference",
    )  # fmt: skip
    assert rel_err(states, ref) <= 1e-4


def test_long_sequence_crosses_the_kernels_time_tiles(backend: str) -> None:
    """2500 steps: past the 1024-step tiles of the fused CPU kernel and of the Triton kernel
    (whose tests above are all shorter than one tile), y and every state."""
    inp = make_inputs((2, 3, 1, 2500, None), dtype=torch.float32, seed=9)
    opts = OPTION_SETS[2]
    y_ref, h_ref = run_scan(inp, "reference", opts, return_last_state=True)
    y, h = run_scan(inp, backend, opts, return_last_state=True)
    assert rel_err(y, y_ref) <= 1e-4 and rel_err(h, h_ref) <= 1e-4
    args = (inp["u"], inp["delta"], inp["A"], inp["B"], inp["delta_bias"], True)
    states = selective_scan_states(*args, backend=backend)
    assert rel_err(states, selective_scan_states(*args, backend="reference")) <= 1e-4


def test_large_decay_is_stable(backend: str) -> None:
    """delta * A down to -60 per step: a cumulative exp(-sum) trick would overflow here."""
    inp = make_inputs((1, 4, 16, 80, None), dtype=torch.float32, seed=4)
    inp["A"] = -torch.arange(1, 17, dtype=torch.float32).repeat(4, 1)
    inp["delta"] = inp["delta"].abs() * 8
    y_ref = run_scan(inp, "reference", {"D": True})
    y = run_scan(inp, backend, {"D": True})
    assert torch.isfinite(y).all()
    assert rel_err(y, y_ref) <= 1e-4


def test_large_decay_gradients(backend: str) -> None:
    """Steep decays also in the backward (pure torch: the pairwise-scan branch)."""
    grads = []
    for name in ("reference", backend):
        inp = make_inputs((1, 3, 4, 40, None), seed=8, requires_grad=True)
        with torch.no_grad():
            inp["A"].copy_(-torch.arange(1, 5, dtype=torch.float64).repeat(3, 1) * 4)
            inp["delta"].abs_().mul_(6)
        y = run_scan(inp, name, {"D": True})
        y.square().sum().backward()
        grads.append({k: v.grad for k, v in inp.items() if v.grad is not None})
    for k, g_ref in grads[0].items():
        assert rel_err(grads[1][k], g_ref) <= 1e-10, k


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    bsz=st.integers(1, 2),
    dim_per_group=st.integers(1, 4),
    groups=st.sampled_from([None, 1, 2, 3]),
    n=st.integers(1, 5),
    length=st.integers(1, 50),
    use_d=st.booleans(),
    use_z=st.booleans(),
    use_bias=st.booleans(),
    softplus=st.booleans(),
    pure=st.booleans(),
)
def test_property_random_shapes(
    monkeypatch: pytest.MonkeyPatch,
    bsz: int,
    dim_per_group: int,
    groups: int | None,
    n: int,
    length: int,
    use_d: bool,
    use_z: bool,
    use_bias: bool,
    softplus: bool,
    pure: bool,
) -> None:
    monkeypatch.setenv("VZOO_SCAN_NUMBA", "0" if pure else "1")
    dim = dim_per_group * (groups or 1)
    inp = make_inputs((bsz, dim, n, length, groups), seed=length)
    opts = {"D": use_d, "z": use_z, "delta_bias": use_bias, "softplus": softplus}
    y_ref, h_ref = run_scan(inp, "reference", opts, return_last_state=True)
    y, h = run_scan(inp, "torch", opts, return_last_state=True)
    assert y.shape == (bsz, dim, length) and h.shape == (bsz, dim, n)
    assert rel_err(y, y_ref) <= 1e-10 and rel_err(h, h_ref) <= 1e-10
    args = (inp["u"], inp["delta"], inp["A"], inp["B"], inp["delta_bias"] if use_bias else None)
    states = selective_scan_states(*args, softplus, backend="torch")
    assert rel_err(states, selective_scan_states(*args, softplus, backend="reference")) <= 1e-10
    assert torch.equal(states[..., -1], h)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_softplus_threshold_and_small_deltas_n1(backend: str, dtype: torch.dtype) -> None:
    """N == 1 computes bias + softplus (threshold 20) in its own kernels: deltas straddling the
    threshold (up to float32 exp overflow) and tiny deltas (softplus of -30) match the reference."""
    inp = make_inputs((2, 6, 1, 37, None), dtype=dtype)
    inp["delta"] = (torch.arange(2 * 6 * 37, dtype=torch.float64) % 7 - 3).to(dtype).view(
        2, 6, 37
    ) * torch.tensor([-10.0, 6.9, 7.0, 30.0, 0.5, -1.0], dtype=dtype)[:, None]
    opts = {"D": True, "delta_bias": True, "softplus": True}
    y_ref, h_ref = run_scan(inp, "reference", opts, return_last_state=True)
    y, h = run_scan(inp, backend, opts, return_last_state=True)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    assert rel_err(y, y_ref) <= tol and rel_err(h, h_ref) <= tol
    args = (inp["u"], inp["delta"], inp["A"], inp["B"], inp["delta_bias"])
    states = selective_scan_states(*args, True, backend=backend)
    assert rel_err(states, selective_scan_states(*args, True, backend="reference")) <= tol


# ---- gradients -----------------------------------------------------------------------------


@pytest.mark.parametrize("pure", [False, True], ids=["numba", "pure-torch"])
def test_gradcheck_scan(monkeypatch: pytest.MonkeyPatch, pure: bool) -> None:
    monkeypatch.setenv("VZOO_SCAN_NUMBA", "0" if pure else "1")
    inp = make_inputs((2, 4, 3, 13, 2), requires_grad=True, seed=5)
    names = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")

    def f(*t: torch.Tensor) -> Any:
        return selective_scan(*t, True, return_last_state=True, backend="torch")

    assert torch.autograd.gradcheck(f, tuple(inp[k] for k in names))


@pytest.mark.parametrize("pure", [False, True], ids=["numba", "pure-torch"])
def test_gradcheck_states(monkeypatch: pytest.MonkeyPatch, pure: bool) -> None:
    monkeypatch.setenv("VZOO_SCAN_NUMBA", "0" if pure else "1")
    inp = make_inputs((1, 4, 2, 11, None), requires_grad=True, seed=6)

    def f(u: torch.Tensor, delta: torch.Tensor, a: torch.Tensor, b: torch.Tensor, bias: Any) -> Any:
        return selective_scan_states(u, delta, a, b, bias, True, backend="torch")

    args = (inp["u"], inp["delta"], inp["A"], inp["B"], inp["delta_bias"])
    assert torch.autograd.gradcheck(f, args)


def test_gradients_match_reference_autograd(backend: str) -> None:
    """Gradients of every backend equal autograd through the sequential loop (float64)."""
    shape = (1, 6, 2, 40, 3)
    opts = {"D": True, "z": True, "delta_bias": True, "softplus": True}
    grads = []
    for name in ("reference", backend):
        inp = make_inputs(shape, requires_grad=True, seed=7)
        y, h = run_scan(inp, name, opts, return_last_state=True)
        (y.sin().sum() + h.square().sum()).backward()
        grads.append({k: v.grad for k, v in inp.items()})
    for k, g_ref in grads[0].items():
        assert rel_err(grads[1][k], g_ref) <= 1e-10, k


# ---- errors and backend selection ----------------------------------------------------------


def _bad(inp: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(inp)
    out.update(changes)
    return out


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("u", lambda i: {"u": i["u"][0]}),
        ("delta", lambda i: {"delta": i["delta"][..., :-1]}),
        ("A", lambda i: {"A": i["A"][:-1]}),
        ("B", lambda i: {"B": i["B"][..., :-1]}),
        ("C", lambda i: {"C": i["C"][:, :, :1]}),
        ("D", lambda i: {"D": i["D"][:-1]}),
        ("z", lambda i: {"z": i["z"][..., 1:]}),
        ("delta_bias", lambda i: {"delta_bias": i["delta_bias"][None]}),
        ("delta", lambda i: {"delta": i["delta"].float()}),
        ("u", lambda i: {"u": i["u"].long(), "delta": i["delta"].long()}),
        ("A", lambda i: {"A": i["A"].to(torch.complex128)}),
        ("B", lambda i: {"B": i["B"].to("meta")}),
    ],
)
def test_invalid_arguments_name_the_argument(name: str, change: Any) -> None:
    inp = make_inputs((1, 6, 2, 9, 3))
    args = _bad(inp, **change(inp))
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        run_scan(args, "torch", {"D": True, "z": True, "delta_bias": True})


def test_states_invalid_arguments() -> None:
    inp = make_inputs((1, 6, 2, 9, None))
    with pytest.raises(ValueError, match="B"):
        selective_scan_states(inp["u"], inp["delta"], inp["A"], inp["B"][..., :-2])
    with pytest.raises(ValueError, match="delta_bias"):
        selective_scan_states(inp["u"], inp["delta"], inp["A"], inp["B"], inp["D"][:2])


def test_backend_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    ss = sys.modules["vzoo.kernels.selective_scan"]  # the package re-exports the function
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_backend(None, cpu) == "torch"
    monkeypatch.setattr(ss, "_triton_importable", lambda: True)
    assert resolve_backend(None, cuda) == "triton"
    monkeypatch.setattr(ss, "_triton_importable", lambda: False)
    assert resolve_backend(None, cuda) == "torch"
    monkeypatch.setenv("VZOO_SCAN_BACKEND", "reference")
    assert resolve_backend(None, cpu) == "reference"
    assert resolve_backend("torch", cpu) == "torch"  # the argument beats the env var
    monkeypatch.setenv("VZOO_SCAN_BACKEND", "cuda-magic")
    with pytest.raises(ValueError, match="cuda-magic"):
        resolve_backend(None, cpu)
    with pytest.raises(ValueError, match="pip install triton"):
        resolve_backend("triton", cuda)
    monkeypatch.setattr(ss, "_triton_importable", lambda: True)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match="CUDA"):
        resolve_backend("triton", cpu)


def test_env_var_routes_the_public_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    ops = sys.modules["vzoo.kernels.scan_ops"]

    real = ops.scan_impl

    def spy(backend: str, *a: Any, **k: Any) -> Any:
        calls.append(backend)
        return real(backend, *a, **k)

    monkeypatch.setattr(ops, "scan_impl", spy)
    inp = make_inputs((1, 2, 1, 5, None))
    monkeypatch.setenv("VZOO_SCAN_BACKEND", "reference")
    run_scan(inp, None, {})  # type: ignore[arg-type]
    monkeypatch.delenv("VZOO_SCAN_BACKEND")
    run_scan(inp, None, {})  # type: ignore[arg-type]
    assert calls == ["reference", "torch"]


# ---- operators, tracing, FLOPs --------------------------------------------------------------


# schema, fake impl and eager autograd registration; not test_aot_dispatch_*: the backward
# recomputes through numba on .numpy() views, which AOT tracing cannot follow (documented)
OPCHECK_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor")


def test_opcheck_registered_operators() -> None:
    inp = make_inputs((1, 4, 2, 9, 2), dtype=torch.float32, requires_grad=True)
    scan_args = (
        inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], inp["D"], inp["z"],
        inp["delta_bias"], True, "torch",
    )  # fmt: skip
    torch.library.opcheck(
        torch.ops.vzoo.selective_scan.default, scan_args, test_utils=OPCHECK_UTILS
    )
    states_args = (inp["u"], inp["delta"], inp["A"], inp["B"], inp["delta_bias"], True, "torch")
    torch.library.opcheck(
        torch.ops.vzoo.selective_scan_states.default, states_args, test_utils=OPCHECK_UTILS
    )


class _TinyScanModule(torch.nn.Module):
    """x (b, 2N + D?, L) -> scan with B, C sliced from x; optional D and z."""

    def __init__(self, dim: int, n: int, use_d: bool, use_z: bool, states: bool) -> None:
        super().__init__()
        self.n, self.use_z, self.states = n, use_z, states
        self.A = torch.nn.Parameter(-torch.rand(dim, n))
        self.D = torch.nn.Parameter(torch.ones(dim)) if use_d else None
        self.bias = torch.nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor, bc: torch.Tensor) -> torch.Tensor:
        b, c = bc[:, : self.n], bc[:, self.n :]
        if self.states:
            return selective_scan_states(x, x, self.A, b, self.bias, True)
        z = x if self.use_z else None
        return selective_scan(x, x, self.A, b, c, self.D, z, self.bias, True)


@pytest.mark.parametrize(
    ("use_d", "use_z", "states"),
    [(True, False, False), (False, False, False), (True, True, False), (False, False, True)],
)
def test_fvcore_counts_the_formula(use_d: bool, use_z: bool, states: bool) -> None:
    from fvcore.nn import FlopCountAnalysis

    bsz, dim, n, length = 2, 6, 3, 11
    model = _TinyScanModule(dim, n, use_d, use_z, states)
    inputs = (torch.randn(bsz, dim, length), torch.randn(bsz, 2 * n, length))
    graph = torch.jit.trace(model, inputs).inlined_graph
    kinds = [node.kind() for node in graph.nodes() if node.kind().startswith("vzoo::")]
    assert kinds == ["vzoo::selective_scan_states" if states else "vzoo::selective_scan"]
    flops = FlopCountAnalysis(model, inputs)
    flops.set_op_handle(**FVCORE_HANDLES)
    flops.unsupported_ops_warnings(False)
    if states:
        expected = flops_selective_scan_states(bsz, length, dim, n)
        assert expected == 7 * bsz * length * dim * n
    else:
        expected = flops_selective_scan(bsz, length, dim, n, with_d=use_d, with_z=use_z)
        assert expected == 9 * bsz * length * dim * n + (use_d + use_z) * bsz * dim * length
    assert flops.total() == expected
    assert not flops.unsupported_ops()


def test_torch_compile_fake_shapes() -> None:
    """The fake impls give the real output shapes/dtypes (what torch.compile / export trace)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    inp = make_inputs((2, 4, 3, 9, 2), dtype=torch.float16)
    with FakeTensorMode() as mode:
        fake = {k: mode.from_tensor(v) for k, v in inp.items()}
        y, h = torch.ops.vzoo.selective_scan(
            fake["u"], fake["delta"], fake["A"], fake["B"], fake["C"], None, None, None,
            False, "torch",
        )  # fmt: skip
        s = torch.ops.vzoo.selective_scan_states(
            fake["u"], fake["delta"], fake["A"], fake["B"], None, False, "torch"
        )
    assert (y.shape, y.dtype) == ((2, 4, 9), torch.float16)
    assert (h.shape, h.dtype) == ((2, 4, 3), torch.float32)
    assert (s.shape, s.dtype) == ((2, 4, 3, 9), torch.float32)


# ---- memory bound ----------------------------------------------------------------------------

_MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, torch
    torch.set_num_threads(1)
    from vzoo.kernels import selective_scan
    b, d, n, l = 1, 64, 16, 32768  # one (b, D, N, L) float32 intermediate = 128 MiB
    def make(length):
        g = torch.Generator().manual_seed(0)
        return (torch.randn(b, d, length, generator=g), torch.rand(b, d, length, generator=g),
                -torch.rand(d, n, generator=g), torch.randn(b, n, length, generator=g),
                torch.randn(b, n, length, generator=g), torch.ones(d), None, torch.zeros(d),
                True)
    selective_scan(*make(64), backend="torch")  # compile / warm up
    args = make(l)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    y = selective_scan(*args, backend="torch")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((peak - base) / 1024)
    """
)


def test_peak_memory_is_bounded_by_chunks() -> None:
    """Default CPU path: a scan whose (b, D, N, L) intermediate would be 128 MiB raises the
    peak RSS of a fresh process by little more than its 8 MiB output."""
    dev = ROOT / ".dev"
    path = os.pathsep.join(p for p in (str(dev), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path if dev.exists() else os.environ.get("PYTHONPATH", ""))
    env.pop("VZOO_SCAN_NUMBA", None)
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )  # fmt: skip
    grown_mib = float(result.stdout.strip().splitlines()[-1])
    assert grown_mib < 40, f"peak RSS grew by {grown_mib:.0f} MiB"


def test_pure_torch_scan_works_in_bounded_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pure-torch path never materialises more than one block of (b, D, N, T) at once."""
    monkeypatch.setenv("VZOO_SCAN_NUMBA", "0")
    monkeypatch.setattr(scan_torch, "BLOCK_ELEMENTS", 4096)
    seen: list[int] = []
    real = scan_torch._scan_block

    def spy(log_a: torch.Tensor, x: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        seen.append(log_a.numel())
        return real(log_a, x, h0)

    monkeypatch.setattr(scan_torch, "_scan_block", spy)
    inp = make_inputs((1, 8, 16, 1000, 2), dtype=torch.float32)
    opts = {"D": True, "softplus": True}
    y = run_scan(inp, "torch", opts)
    assert rel_err(y, run_scan(inp, "reference", opts)) <= 1e-4
    assert len(seen) > 1 and max(seen) <= 4096


# ---- triton (CPU interpreter) ----------------------------------------------------------------


def test_triton_backend() -> None:
    """Re-run the backend-parametrised tests for triton in a TRITON_INTERPRET=1 subprocess."""
    if not TRITON_INSTALLED:
        pytest.skip("triton is not installed: the triton backend is NOT tested in this run")
    if TRITON_HERE:
        pytest.skip("the triton-parametrised tests of this same run cover it")
    env = dict(os.environ, TRITON_INTERPRET="1")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__,
         "-k", "triton and not test_triton_backend"],
        capture_output=True, text=True, env=env, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
