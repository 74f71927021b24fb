"""Selective-scan and cross-scan kernels: reference, vectorised PyTorch, Triton.

Public API (everything else in this package is an implementation detail):

- `selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
  *, return_last_state=False, backend=None)` with the semantics of Mamba's `selective_scan_ref`.
- `selective_scan_states(u, delta, A, B, delta_bias=None, delta_softplus=False, *, backend=None)`
  returns every hidden state h_t (B, D, N, L): what Spatial-Mamba's state fusion works on.
"""

from vzoo.kernels.selective_scan import selective_scan, selective_scan_states

__all__ = ["selective_scan", "selective_scan_states"]
