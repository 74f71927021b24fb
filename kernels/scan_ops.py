"""The selective scan as two operators: `vzoo::selective_scan`, `vzoo::selective_scan_states`.

Why custom ops: `torch.jit.trace` (what fvcore's FlopCountAnalysis runs) then records the whole
scan as ONE node, whatever backend computes it, so `flop_count.FVCORE_HANDLES` can price it with
the papers' formulas; torch.compile also treats it as one opaque call (fake impls give shapes).

Autograd: the forward may run a non-differentiable kernel (Triton) or a numba kernel behind
`.numpy()`, so the registered backward recomputes the forward through a differentiable
implementation of the same backend (reference -> the sequential loop; torch -> the numba
Function with its own chunked backward on CPU, else the pure-torch chunked scan; triton -> the
pure-torch chunked scan) and takes `torch.autograd.grad` of it. Cost: one extra forward.
Limitation: that backward is eager Python (numba works on `.numpy()` views), so AOT autograd /
torch.compile can trace the forward operator (fake impls below) but not through its backward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from vzoo import settings
from vzoo.kernels import scan_torch

CoreFn = Callable[..., tuple[Tensor, Tensor]]


def compute_dtype(*tensors: Tensor | None) -> torch.dtype:
    """float64 stays float64; everything else accumulates in (at least) float32."""
    return (
        torch.float64
        if any(t is not None and t.dtype == torch.float64 for t in tensors)
        else torch.float32
    )


def numba_enabled() -> bool:
    """Compiled CPU recurrence: off with VZOO_SCAN_NUMBA=0 or without numba (-> pure torch)."""
    if not settings.scan_numba():
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _core(backend: str, device: torch.device, *, differentiable: bool) -> CoreFn:
    if backend == "triton" and not differentiable:
        from vzoo.kernels.scan_triton import scan_triton

        return scan_triton
    if backend == "torch" and device.type == "cpu" and numba_enabled():
        from vzoo.kernels.scan_numba import scan_numba

        return scan_numba
    return scan_torch.scan_torch


def _fused(backend: str, device: torch.device, differentiable: bool) -> bool:
    """Inference on CPU: the fused chunked numba forward (bias/softplus/D/z inside the chunks)."""
    return backend == "torch" and not differentiable and device.type == "cpu" and numba_enabled()


def _opt(t: Tensor | None, ct: torch.dtype) -> Tensor | None:
    return t.to(ct) if t is not None else None


def _grouped(t: Tensor, ct: torch.dtype) -> Tensor:
    t = t.to(ct)
    return t.unsqueeze(1) if t.dim() == 3 else t


def _prepare(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool,
) -> tuple[torch.dtype, Tensor, Tensor, Tensor, Tensor, Tensor | None]:  # fmt: skip
    ct = compute_dtype(u, delta, A, B, C)
    u_c, delta_c = u.to(ct), delta.to(ct)
    if delta_bias is not None:
        delta_c = delta_c + delta_bias.to(ct)[:, None]
    if delta_softplus:
        delta_c = torch.nn.functional.softplus(delta_c)
    c4 = _grouped(C, ct) if C is not None else None
    return ct, u_c, delta_c, A.to(ct), _grouped(B, ct), c4


def scan_impl(
    backend: str,
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    z: Tensor | None,
    delta_bias: Tensor | None,
    delta_softplus: bool,
    *,
    differentiable: bool = False,
) -> tuple[Tensor, Tensor]:
    """(out in u's dtype, last state in the compute dtype) by the named backend."""
    if backend == "reference":
        from vzoo.kernels.selective_scan import selective_scan_reference

        return selective_scan_reference(  # type: ignore[return-value]
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state=True
        )
    if _fused(backend, u.device, differentiable):
        from vzoo.kernels.scan_numba import scan_numba_fused

        ct = compute_dtype(u, delta, A, B, C)
        y, last = scan_numba_fused(
            u, delta, A.to(ct), _grouped(B, ct), _grouped(C, ct), _opt(D, ct), z,
            _opt(delta_bias, ct), delta_softplus,
        )  # fmt: skip
        return y.to(u.dtype), last
    ct, u_c, delta_c, a_c, b4, c4 = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    core = _core(backend, u.device, differentiable=differentiable)
    y, last = core(u_c, delta_c, a_c, b4, c4, return_states=False)
    if D is not None:
        y = y + u_c * D.to(ct)[:, None]
    if z is not None:
        y = y * torch.nn.functional.silu(z.to(ct))
    return y.to(u.dtype), last


def states_impl(
    backend: str,
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    delta_bias: Tensor | None,
    delta_softplus: bool,
    *,
    differentiable: bool = False,
) -> Tensor:
    """Every state (b, D, N, L) in the compute dtype, by the named backend."""
    if backend == "reference":
        from vzoo.kernels.selective_scan import selective_scan_states_reference

        return selective_scan_states_reference(u, delta, A, B, delta_bias, delta_softplus)
    if _fused(backend, u.device, differentiable):
        from vzoo.kernels.scan_numba import scan_numba_fused

        ct = compute_dtype(u, delta, A, B)
        states, _ = scan_numba_fused(
            u, delta, A.to(ct), _grouped(B, ct), None, None, None, _opt(delta_bias, ct),
            delta_softplus, return_states=True,
        )  # fmt: skip
        return states
    _, u_c, delta_c, a_c, b4, _ = _prepare(u, delta, A, B, None, delta_bias, delta_softplus)
    core = _core(backend, u.device, differentiable=differentiable)
    states, _ = core(u_c, delta_c, a_c, b4, None, return_states=True)
    return states


# ---- operator registration -------------------------------------------------------------------

_SCAN_SCHEMA = (
    "(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? z, "
    "Tensor? delta_bias, bool delta_softplus, str backend) -> (Tensor, Tensor)"
)
_STATES_SCHEMA = (
    "(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor? delta_bias, bool delta_softplus, "
    "str backend) -> Tensor"
)
SCAN_OP = "vzoo::selective_scan"
STATES_OP = "vzoo::selective_scan_states"


@torch.library.custom_op(SCAN_OP, mutates_args=(), schema=_SCAN_SCHEMA)
def selective_scan_op(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    z: Tensor | None,
    delta_bias: Tensor | None,
    delta_softplus: bool,
    backend: str,
) -> tuple[Tensor, Tensor]:
    with torch.no_grad():
        y, last = scan_impl(backend, u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    return y.contiguous(), last.contiguous()


@selective_scan_op.register_fake
def _scan_fake(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
    z: Tensor | None, delta_bias: Tensor | None, delta_softplus: bool, backend: str,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    ct = compute_dtype(u, delta, A, B, C)
    return u.new_empty(u.shape), u.new_empty(u.shape[0], u.shape[1], A.shape[1], dtype=ct)


@torch.library.custom_op(STATES_OP, mutates_args=(), schema=_STATES_SCHEMA)
def selective_scan_states_op(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    delta_bias: Tensor | None,
    delta_softplus: bool,
    backend: str,
) -> Tensor:
    with torch.no_grad():
        return states_impl(backend, u, delta, A, B, delta_bias, delta_softplus).contiguous()


@selective_scan_states_op.register_fake
def _states_fake(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, delta_bias: Tensor | None,
    delta_softplus: bool, backend: str,
) -> Tensor:  # fmt: skip
    ct = compute_dtype(u, delta, A, B)
    return u.new_empty(u.shape[0], u.shape[1], A.shape[1], u.shape[2], dtype=ct)


def _setup(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    # non-tensor arguments (None, flags, backend name) stay on ctx; tensors are saved properly
    ctx.static = [None if isinstance(a, Tensor) else a for a in inputs]
    ctx.is_tensor = [isinstance(a, Tensor) for a in inputs]
    ctx.save_for_backward(*(a for a in inputs if isinstance(a, Tensor)))


def _regrad(
    ctx: Any, n_tensors: int, run: Callable[..., Any], grads: tuple[Tensor | None, ...]
) -> tuple[Tensor | None, ...]:
    """Gradients of the inputs by re-running a differentiable forward (see module docstring)."""
    saved = iter(ctx.saved_tensors)
    args = [next(saved) if is_t else a for a, is_t in zip(ctx.static, ctx.is_tensor, strict=True)]
    wanted = [i for i in range(n_tensors) if args[i] is not None and ctx.needs_input_grad[i]]
    with torch.enable_grad():
        for i in wanted:
            args[i] = args[i].detach().requires_grad_(True)
        outs = run(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        pairs = [(o, g) for o, g in zip(outs, grads, strict=True) if g is not None]
        got = torch.autograd.grad(
            [o for o, _ in pairs], [args[i] for i in wanted], [g for _, g in pairs],
            allow_unused=True,
        )  # fmt: skip
    result: list[Tensor | None] = [None] * len(args)
    for i, g in zip(wanted, got, strict=True):
        result[i] = g
    return tuple(result)


def _scan_backward(ctx: Any, g_out: Tensor | None, g_last: Tensor | None) -> tuple[Any, ...]:
    def run(*a: Any) -> tuple[Tensor, Tensor]:
        return scan_impl(a[9], *a[:9], differentiable=True)

    return _regrad(ctx, 8, run, (g_out, g_last))


def _states_backward(ctx: Any, g_out: Tensor) -> tuple[Any, ...]:
    def run(*a: Any) -> Tensor:
        return states_impl(a[6], *a[:6], differentiable=True)

    return _regrad(ctx, 5, run, (g_out,))


selective_scan_op.register_autograd(_scan_backward, setup_context=_setup)
selective_scan_states_op.register_autograd(_states_backward, setup_context=_setup)
