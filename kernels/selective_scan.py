"""The one selective-scan entry point and its argument checks.

Shapes (Mamba's `selective_scan_fn` convention):
  u, delta, z: (batch, D, L)    A: (D, N) real    D, delta_bias: (D,)
  B, C: (batch, N, L) shared by all channels, or (batch, G, N, L) grouped (D % G == 0)
Recurrence:  h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t ;  y_t = <C_t, h_t> + D * u_t ;
  out = y * silu(z) if z is given.  Half inputs accumulate in float32; float64 stays float64.

Backends (`backend=` or VZOO_SCAN_BACKEND; default auto = triton on CUDA when importable, else
torch): reference (the sequential loop below, tests only), torch (vectorised chunked scan; on CPU
with a compiled numba recurrence, VZOO_SCAN_NUMBA=0 forces the pure-torch path), triton.
"""

from __future__ import annotations

import os
import warnings

import torch
from torch import Tensor

from vzoo import settings
from vzoo.kernels import scan_ops
from vzoo.kernels.scan_ops import compute_dtype

BACKENDS = ("reference", "torch", "triton")


def _check(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor | None,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
) -> None:
    """ValueError naming the offending argument for any shape / dtype / device mismatch."""
    named = {"u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "z": z}
    named["delta_bias"] = delta_bias
    for name, t in named.items():
        if t is not None and not isinstance(t, Tensor):
            raise ValueError(
                f"selective_scan: {name} must be a torch.Tensor, got {type(t).__name__}"
            )
    if u.dim() != 3:
        raise ValueError(f"selective_scan: u must be (batch, D, L), got shape {tuple(u.shape)}")
    bsz, dim, length = u.shape
    if length == 0 or dim == 0 or bsz == 0:
        raise ValueError(
            f"selective_scan: u must have non-empty (batch, D, L), got {tuple(u.shape)}"
        )
    if delta.shape != u.shape:
        raise ValueError(
            f"selective_scan: delta shape {tuple(delta.shape)} != u shape {tuple(u.shape)}"
        )
    if A.dim() != 2 or A.shape[0] != dim or A.shape[1] == 0:
        raise ValueError(f"selective_scan: A must be (D={dim}, N >= 1), got {tuple(A.shape)}")
    if A.is_complex():
        raise ValueError("selective_scan: complex A is not supported (vision models use real A)")
    n = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if t is None:
            continue
        ok = (t.dim() == 3 and t.shape == (bsz, n, length)) or (
            t.dim() == 4 and t.shape[0] == bsz and t.shape[2:] == (n, length)
            and t.shape[1] > 0 and dim % t.shape[1] == 0
        )  # fmt: skip
        if not ok:
            raise ValueError(
                f"selective_scan: {name} must be (batch={bsz}, N={n}, L={length}) or "
                f"(batch, G, N, L) with D % G == 0, got {tuple(t.shape)}"
            )
    for name, t in (("D", D), ("delta_bias", delta_bias)):
        if t is not None and t.shape != (dim,):
            raise ValueError(f"selective_scan: {name} must be (D={dim},), got {tuple(t.shape)}")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"selective_scan: z shape {tuple(z.shape)} != u shape {tuple(u.shape)}")
    for name, t in named.items():
        if t is not None and not t.is_floating_point():
            raise ValueError(f"selective_scan: {name} must be floating point, got {t.dtype}")
    for name, t in (("delta", delta), ("z", z)):
        if t is not None and t.dtype != u.dtype:
            raise ValueError(
                f"selective_scan: {name} dtype {t.dtype} != u dtype {u.dtype} (activations "
                "u, delta, z share one dtype)"
            )
    devices = {name: t.device for name, t in named.items() if t is not None}
    if len(set(devices.values())) > 1:
        where = ", ".join(f"{name} on {dev}" for name, dev in devices.items())
        raise ValueError(f"selective_scan: tensors on different devices: {where}")


def _checked(*args: Tensor | None, **kwargs: Tensor | None) -> None:
    """`_check`, quiet under torch.jit.trace (fvcore): its shape tests would warn there."""
    if not torch.jit.is_tracing():
        _check(*args, **kwargs)  # type: ignore[arg-type]
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        _check(*args, **kwargs)  # type: ignore[arg-type]


def _expand_groups(t: Tensor, dim: int) -> Tensor:
    """(batch, N, L) or (batch, G, N, L) -> (batch, D, N, L) view-friendly expansion."""
    if t.dim() == 3:
        return t.unsqueeze(1).expand(t.shape[0], dim, *t.shape[1:])
    g = t.shape[1]
    return t.repeat_interleave(dim // g, dim=1)


def selective_scan_reference(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The plain sequential recurrence (tests only: slow)."""
    out_dtype = u.dtype
    ct = compute_dtype(u, delta, A, B, C)
    u, delta, A = u.to(ct), delta.to(ct), A.to(ct)
    if delta_bias is not None:
        delta = delta + delta_bias.to(ct)[:, None]
    if delta_softplus:
        delta = torch.nn.functional.softplus(delta)
    dim = u.shape[1]
    Bx, Cx = _expand_groups(B.to(ct), dim), _expand_groups(C.to(ct), dim)
    dA = torch.exp(delta.unsqueeze(2) * A[None, :, :, None])  # (b, D, N, L)
    dBu = delta.unsqueeze(2) * Bx * u.unsqueeze(2)
    h = u.new_zeros(u.shape[0], dim, A.shape[1])
    ys = []
    for t in range(u.shape[2]):
        h = dA[..., t] * h + dBu[..., t]
        ys.append((h * Cx[..., t]).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + u * D.to(ct)[:, None]
    if z is not None:
        y = y * torch.nn.functional.silu(z.to(ct))
    y = y.to(out_dtype)
    return (y, h) if return_last_state else y


def selective_scan_states_reference(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """Every hidden state h_t, shape (batch, D, N, L), by the sequential recurrence."""
    ct = compute_dtype(u, delta, A, B)
    u, delta, A = u.to(ct), delta.to(ct), A.to(ct)
    if delta_bias is not None:
        delta = delta + delta_bias.to(ct)[:, None]
    if delta_softplus:
        delta = torch.nn.functional.softplus(delta)
    dim = u.shape[1]
    Bx = _expand_groups(B.to(ct), dim)
    dA = torch.exp(delta.unsqueeze(2) * A[None, :, :, None])
    dBu = delta.unsqueeze(2) * Bx * u.unsqueeze(2)
    h = u.new_zeros(u.shape[0], dim, A.shape[1])
    hs = []
    for t in range(u.shape[2]):
        h = dA[..., t] * h + dBu[..., t]
        hs.append(h)
    return torch.stack(hs, dim=-1)


def _triton_importable() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str | None, device: torch.device) -> str:
    """`backend=`, else VZOO_SCAN_BACKEND, else auto: triton on CUDA if importable, else torch."""
    choice = backend or settings.scan_backend() or "auto"
    if choice == "auto":
        return "triton" if device.type == "cuda" and _triton_importable() else "torch"
    if choice not in BACKENDS:
        raise ValueError(
            f"unknown selective-scan backend {choice!r} (VZOO_SCAN_BACKEND); "
            f"choose one of auto, {', '.join(BACKENDS)}"
        )
    if choice == "triton":
        if not _triton_importable():
            raise ValueError("selective-scan backend 'triton' needs `pip install triton`")
        # the kernel runs on CUDA tensors, or anywhere under Triton's CPU interpreter
        if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
            raise ValueError(
                f"selective-scan backend 'triton' needs CUDA tensors, got {device} "
                "(or set TRITON_INTERPRET=1 to run the kernel in Triton's CPU interpreter)"
            )
    return choice


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    *,
    return_last_state: bool = False,
    backend: str | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Mamba's selective scan; see the module docstring for shapes and semantics.

    Returns y (batch, D, L) in u's dtype, and with `return_last_state` also the final state
    (batch, D, N) in the compute dtype (float32 for half inputs), as Mamba's reference does.
    Runs as the single operator `vzoo::selective_scan` (one node for jit.trace / fvcore).
    """
    _checked(u, delta, A, B, C, D, z, delta_bias)
    name = resolve_backend(backend, u.device)
    y, last = scan_ops.selective_scan_op(
        u, delta, A, B, C, D, z, delta_bias, bool(delta_softplus), name
    )
    return (y, last) if return_last_state else y


def selective_scan_states(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    *,
    backend: str | None = None,
) -> Tensor:
    """All hidden states h_t (batch, D, N, L) of the selective scan (no C/D/z applied).

    In the compute dtype (float32 for half inputs, float64 for float64). Runs as the single
    operator `vzoo::selective_scan_states`.
    """
    _checked(u, delta, A, B, None, delta_bias=delta_bias)
    name = resolve_backend(backend, u.device)
    return scan_ops.selective_scan_states_op(u, delta, A, B, delta_bias, bool(delta_softplus), name)


def selective_scan_tokens(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    *,
    backend: str | None = None,
) -> Tensor:
    """`selective_scan` for token-major (channels-last) tensors: u, delta (batch, L, D), B, C
    (batch, L, N) -> y (batch, L, D), the same numbers (no z: gate the result yourself).

    Why a second entry point: a channels-last model holds u and delta token by token, and the
    (batch, D, L) form costs a transposing copy of each and of y per scan. CPU inference at
    float32, d_state 1 with softplus (the fused numba path) reads and writes this layout
    directly; anything else (autograd, tracing for FLOP counts, float64, Triton) runs
    `selective_scan` on transposed views.
    """
    name = resolve_backend(backend, u.device)
    if C.dim() == 3 and _token_path(name, u, delta, A, B, C, D, delta_bias, delta_softplus):
        from vzoo.kernels.scan_simd import scan_simd_tokens

        return scan_simd_tokens(u, delta, A, B, C, D, delta_bias)[0].to(u.dtype)
    y = selective_scan(
        u.transpose(1, 2), delta.transpose(1, 2), A, B.transpose(1, 2).contiguous(),
        C.transpose(1, 2).contiguous(), D, None, delta_bias, delta_softplus, backend=name,
    )  # fmt: skip
    assert isinstance(y, Tensor)
    return y.transpose(1, 2)


def selective_scan_states_tokens(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    *,
    backend: str | None = None,
) -> Tensor:
    """`selective_scan_states` for token-major tensors: u, delta (batch, L, D), B (batch, L, N)
    -> every hidden state (batch, L, D, N), the same numbers (see `selective_scan_tokens`)."""
    name = resolve_backend(backend, u.device)
    if _token_path(name, u, delta, A, B, None, None, delta_bias, delta_softplus):
        from vzoo.kernels.scan_simd import scan_simd_tokens

        return scan_simd_tokens(u, delta, A, B, None, None, delta_bias)[0]
    states = selective_scan_states(
        u.transpose(1, 2), delta.transpose(1, 2), A, B.transpose(1, 2).contiguous(), delta_bias,
        delta_softplus, backend=name,
    )  # fmt: skip
    return states.permute(0, 3, 1, 2)


def _token_path(
    backend: str, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor | None,
    D: Tensor | None, delta_bias: Tensor | None, delta_softplus: bool,
) -> bool:  # fmt: skip
    """The token-major kernel runs for these arguments (then they are checked as
    `selective_scan` checks its own, on the transposed views)."""
    if B.dim() != 3 or not token_kernel_applies(
        backend, A, delta_softplus, (u, delta, B, C), (D, delta_bias)
    ):
        return False
    _checked(u.transpose(1, 2), delta.transpose(1, 2), A, B.transpose(1, 2),
             C.transpose(1, 2) if C is not None else None, D, delta_bias=delta_bias)  # fmt: skip
    return True


def token_kernel_applies(
    backend: str,
    A: Tensor,
    delta_softplus: bool,
    inputs: tuple[Tensor | None, ...],
    parameters: tuple[Tensor | None, ...] = (),
) -> bool:
    """A token-major numba kernel runs: CPU inference outside a trace, float32 `inputs` (None:
    absent), d_state 1 with softplus and A <= 0 (`scan_simd.applicable`); `parameters` only
    must not need gradients."""
    from vzoo.kernels import scan_simd

    data = [t for t in inputs if t is not None]
    every = [A, *data, *(t for t in parameters if t is not None)]
    return (
        backend == "torch"
        and A.device.type == "cpu"
        and not torch.jit.is_tracing()
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in every))
        and all(t.dtype == torch.float32 and t.device.type == "cpu" for t in data)
        and scan_ops.numba_enabled()
        and scan_simd.enabled()
        and scan_simd.applicable(A, delta_softplus)
    )
