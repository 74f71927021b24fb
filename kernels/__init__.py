"""Selective-scan and cross-scan kernels: reference, vectorised PyTorch (+ numba), Triton.

Public API (everything else in this package is an implementation detail):

- `selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
  *, return_last_state=False, backend=None)` with the semantics of Mamba's `selective_scan_ref`.
- `selective_scan_states(u, delta, A, B, delta_bias=None, delta_softplus=False, *, backend=None)`
  returns every hidden state h_t (B, D, N, L): what Spatial-Mamba's state fusion works on;
  `selective_scan_tokens` / `selective_scan_states_tokens`: the same for token-major
  (channels-last) tensors: u, delta (B, L, D), B, C (B, L, N) -> y (B, L, D) / (B, L, D, N).
- `cross_scan(x)` / `cross_merge(ys, H, W)`: VMamba's four-direction flatten and its merge.
- `flop_count`: the papers' scan FLOP formulas and `FVCORE_HANDLES` for
  `FlopCountAnalysis.set_op_handle(**FVCORE_HANDLES)` (the scans trace as `vzoo::selective_scan`
  and `vzoo::selective_scan_states`).

Backend: `backend=` or VZOO_SCAN_BACKEND (reference | torch | triton); default: triton on CUDA
when importable, else torch. VZOO_SCAN_NUMBA=0 turns off the compiled CPU recurrence.
"""

from vzoo.kernels.cross_scan import cross_merge, cross_scan
from vzoo.kernels.selective_scan import (
    selective_scan,
    selective_scan_states,
    selective_scan_states_tokens,
    selective_scan_tokens,
)

__all__ = [
    "cross_merge",
    "cross_scan",
    "selective_scan",
    "selective_scan_states",
    "selective_scan_states_tokens",
    "selective_scan_tokens",
]
