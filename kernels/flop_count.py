"""FLOPs of the selective scan by the papers' formulas, and fvcore handles for the scan operators.

The formulas (counted from shapes, as the authors count them; a multiply-add is 2 FLOPs here,
unlike fvcore's own conv/matmul handles, but these are the numbers the papers add up):

- VMamba `flops_selective_scan_fn` (after mamba issue #110): 9 * B * L * D * N,
  + B * D * L when the skip term D is used, + B * D * L when z gates the output.
- Spatial-Mamba's state-only scan (its kernel returns every h_t, no C, D or z): 7 * B * L * D * N.

Register the handles with fvcore:
    flops = FlopCountAnalysis(model, inputs)
    flops.set_op_handle(**FVCORE_HANDLES)
The scan is one node in the traced graph because `selective_scan` / `selective_scan_states` run
as the custom operators `vzoo::selective_scan` / `vzoo::selective_scan_states` (scan_ops.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vzoo.kernels.scan_ops import SCAN_OP, STATES_OP


def flops_selective_scan(
    batch: int, length: int, dim: int, n_state: int, *, with_d: bool = True, with_z: bool = False
) -> int:
    """VMamba's `flops_selective_scan_fn(B, L, D, N, with_D, with_Z)` (real A only)."""
    flops = 9 * batch * length * dim * n_state
    if with_d:
        flops += batch * dim * length
    if with_z:
        flops += batch * dim * length
    return flops


def flops_selective_scan_states(batch: int, length: int, dim: int, n_state: int) -> int:
    """Spatial-Mamba's state-only scan: 7 * B * L * D * N."""
    return 7 * batch * length * dim * n_state


def _sizes(value: Any) -> list[int] | None:
    """Static shape of a traced torch._C.Value, or None for a None argument."""
    kind = value.type().kind()
    if kind == "NoneType":
        return None
    if kind == "OptionalType" and value.node().kind() == "prim::Constant":
        return None  # an Optional[Tensor] constant is None
    sizes = value.type().sizes()
    if sizes is None:
        raise ValueError(f"selective-scan FLOPs: input {value.debugName()} has no static shape")
    return list(sizes)


def selective_scan_flop_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """fvcore handle for `vzoo::selective_scan`: inputs (u, delta, A, B, C, D, z, ...)."""
    batch, dim, length = _sizes(inputs[0])  # type: ignore[misc]
    n_state = _sizes(inputs[2])[1]  # type: ignore[index]
    with_d = _sizes(inputs[5]) is not None
    with_z = _sizes(inputs[6]) is not None
    return flops_selective_scan(batch, length, dim, n_state, with_d=with_d, with_z=with_z)


def selective_scan_states_flop_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """fvcore handle for `vzoo::selective_scan_states`: inputs (u, delta, A, B, ...)."""
    batch, dim, length = _sizes(inputs[0])  # type: ignore[misc]
    n_state = _sizes(inputs[2])[1]  # type: ignore[index]
    return flops_selective_scan_states(batch, length, dim, n_state)


FVCORE_HANDLES: dict[str, Callable[[list[Any], list[Any]], int]] = {
    SCAN_OP: selective_scan_flop_jit,
    STATES_OP: selective_scan_states_flop_jit,
}
