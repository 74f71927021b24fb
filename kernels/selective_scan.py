"""The one selective-scan entry point and its argument checks.

Shapes (Mamba's `selective_scan_fn` convention):
  u, delta, z: (batch, D, L)    A: (D, N) real    D, delta_bias: (D,)
  B, C: (batch, N, L) shared by all channels, or (batch, G, N, L) grouped (D % G == 0)
Recurrence:  h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t ;  y_t = <C_t, h_t> + D * u_t ;
  out = y * silu(z) if z is given.  Half inputs accumulate in float32; float64 stays float64.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

BACKENDS = ("reference", "torch", "triton")


def _check(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor | None) -> None:
    if u.dim() != 3:
        raise ValueError(f"selective_scan: u must be (batch, D, L), got shape {tuple(u.shape)}")
    bsz, dim, length = u.shape
    if delta.shape != u.shape:
        raise ValueError(
            f"selective_scan: delta shape {tuple(delta.shape)} != u shape {tuple(u.shape)}"
        )
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"selective_scan: A must be (D={dim}, N), got {tuple(A.shape)}")
    if A.is_complex():
        raise ValueError("selective_scan: complex A is not supported (vision models use real A)")
    n = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if t is None:
            continue
        ok = (t.dim() == 3 and t.shape == (bsz, n, length)) or (
            t.dim() == 4 and t.shape[0] == bsz and t.shape[2:] == (n, length)
            and dim % t.shape[1] == 0
        )  # fmt: skip
        if not ok:
            raise ValueError(
                f"selective_scan: {name} must be (batch={bsz}, N={n}, L={length}) or "
                f"(batch, G, N, L) with D % G == 0, got {tuple(t.shape)}"
            )
    devices = {t.device for t in (u, delta, A, B, C) if t is not None}
    if len(devices) > 1:
        raise ValueError(
            f"selective_scan: tensors on different devices: {sorted(map(str, devices))}"
        )


def _expand_groups(t: Tensor, dim: int) -> Tensor:
    """(batch, N, L) or (batch, G, N, L) -> (batch, D, N, L) view-friendly expansion."""
    if t.dim() == 3:
        return t.unsqueeze(1).expand(t.shape[0], dim, *t.shape[1:])
    g = t.shape[1]
    return t.repeat_interleave(dim // g, dim=1)


def compute_dtype(*tensors: Tensor | None) -> torch.dtype:
    """float64 stays float64; everything else accumulates in (at least) float32."""
    return (
        torch.float64
        if any(t is not None and t.dtype == torch.float64 for t in tensors)
        else torch.float32
    )


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


def resolve_backend(backend: str | None, device: torch.device) -> str:
    choice = backend or os.environ.get("VZOO_SCAN_BACKEND") or "auto"
    if choice == "auto":
        return "reference"  # replaced by the kernels issue: torch on CPU, triton on CUDA
    if choice not in BACKENDS:
        raise ValueError(
            f"unknown selective-scan backend {choice!r} (VZOO_SCAN_BACKEND); "
            f"choose one of {', '.join(BACKENDS)}"
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
    """Mamba's selective scan; see the module docstring for shapes and semantics."""
    _check(u, delta, A, B, C)
    name = resolve_backend(backend, u.device)
    if name != "reference":
        raise NotImplementedError(f"selective-scan backend {name!r} is not built yet")
    return selective_scan_reference(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
    )


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
    """All hidden states h_t (batch, D, N, L) of the selective scan (no C/D/z applied)."""
    _check(u, delta, A, B, None)
    name = resolve_backend(backend, u.device)
    if name != "reference":
        raise NotImplementedError(f"selective-scan backend {name!r} is not built yet")
    return selective_scan_states_reference(u, delta, A, B, delta_bias, delta_softplus)
