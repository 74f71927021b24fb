"""Pure-PyTorch chunked selective scan (differentiable by autograd; any device).

The sequence is cut into blocks (bounded memory: at most ~`BLOCK_ELEMENTS` elements of the
(batch, D, N, T) intermediates live at once) and each block into sub-chunks of `SUB` steps:

1. within every sub-chunk (all of them at once, vectorised), with S_t = cumsum(delta A) (log
   space), the zero-start states are e^{S_t} cumsum(e^{-S_s} x_s) when |S| stays well inside
   the exponent range (the usual case: four passes); otherwise (steep decays, where e^{-S}
   would overflow) a Hillis-Steele scan on the pairs (a_t, x_t) = (exp(delta_t A),
   delta_t u_t B_t): log2(SUB) vectorised steps, only products of decays, as stable as the
   sequential loop;
2. the cumulative decay inside a sub-chunk is exp(S_t);
3. the sub-chunk end states are chained by the same scan over the sub-chunk axis, plus the state
   carried in from the previous block (the only Python loop: one iteration per block).

Inputs are already in the compute dtype with B/C in grouped (batch, G, N, L) form.
"""

from __future__ import annotations

import torch
from torch import Tensor

SUB = 32
BLOCK_ELEMENTS = 1 << 18
# |cumulative log-decay| within a sub-chunk below which e^{+-S} cannot overflow or underflow
_LOG_LIMIT = {torch.float32: 30.0, torch.float64: 200.0, torch.float16: 5.0, torch.bfloat16: 30.0}


def _expand(t: Tensor, dim: int) -> Tensor:
    """(b, G, N, T) -> (b, D, N, T): a broadcast view for G == 1, a copy otherwise."""
    g = t.shape[1]
    if g == 1:
        return t.expand(t.shape[0], dim, *t.shape[2:])
    return t.repeat_interleave(dim // g, dim=1)


def _scan_pairs(a: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """Inclusive scan of h_t = a_t h_{t-1} + x_t (h_{-1} = 0) along the last axis.

    Returns (cumulative products of a, h). Out-of-place so autograd can differentiate it.
    """
    n = a.shape[-1]
    k = 1
    while k < n:
        x = torch.cat((x[..., :k], x[..., k:] + a[..., k:] * x[..., :-k]), dim=-1)
        a = torch.cat((a[..., :k], a[..., k:] * a[..., :-k]), dim=-1)
        k *= 2
    return a, x


def _scan_block(log_a: Tensor, x: Tensor, h0: Tensor) -> Tensor:
    """All states h_t of one block, shape (b, D, N, T), starting from state h0 (b, D, N)."""
    *lead, t_len = log_a.shape
    pad = (-t_len) % SUB
    if pad:  # padded steps (decay 1, input 0) come after the real ones, so they change nothing
        log_a = torch.nn.functional.pad(log_a, (0, pad))
        x = torch.nn.functional.pad(x, (0, pad))
    nc = log_a.shape[-1] // SUB
    log_a = log_a.reshape(*lead, nc, SUB)
    x = x.reshape(*lead, nc, SUB)
    cum = torch.cumsum(log_a, dim=-1)  # log of the decay from the sub-chunk start to t
    decay = torch.exp(cum)
    if float(cum.abs().max()) < _LOG_LIMIT[log_a.dtype]:
        # h_t = e^{S_t} sum_{s<=t} e^{-S_s} x_s: 4 passes, safe while |S| is far from overflow
        h_local = decay * torch.cumsum(torch.exp(-cum) * x, dim=-1)
    else:  # steep decays: the pairwise scan never forms e^{-S}
        _, h_local = _scan_pairs(torch.exp(log_a), x)
    # chain the sub-chunks: state at the end of sub-chunk j, starting from h0
    ends_decay, ends = _scan_pairs(decay[..., -1], h_local[..., -1])
    ends = ends + ends_decay * h0.unsqueeze(-1)
    carry_in = torch.cat((h0.unsqueeze(-1), ends[..., :-1]), dim=-1)
    h = h_local + decay * carry_in.unsqueeze(-1)
    return h.reshape(*lead, nc * SUB)[..., :t_len]


def scan_torch(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor | None,
    *,
    return_states: bool = False,
    block_elements: int | None = None,
) -> tuple[Tensor, Tensor]:
    """(y (b, D, L) or states (b, D, N, L), last state (b, D, N)); delta is post-softplus."""
    bsz, dim, length = u.shape
    n = A.shape[1]
    budget = BLOCK_ELEMENTS if block_elements is None else block_elements
    block = max(SUB, (budget // max(1, bsz * dim * n)) // SUB * SUB)
    h = u.new_zeros(bsz, dim, n)
    outs = []
    du = delta * u
    for t0 in range(0, length, block):
        t1 = min(length, t0 + block)
        dl = delta[:, :, t0:t1]
        log_a = dl.unsqueeze(2) * A[None, :, :, None]
        x = du[:, :, None, t0:t1] * _expand(B[..., t0:t1], dim)
        hs = _scan_block(log_a, x, h)
        h = hs[..., -1]
        if return_states:
            outs.append(hs)
        else:
            assert C is not None
            outs.append((hs * _expand(C[..., t0:t1], dim)).sum(2))
    return torch.cat(outs, dim=-1), h
