"""How a paper counted its params and FLOPs: the `Convention` each family card declares.

One fvcore trace of vzoo's model gives a breakdown (standard ops, selective scans, a family's
state fusion, batch norms); a `Convention` says which parts the authors' tool saw and how it
priced them, so every convention is derived from the same trace:

- `paper`: what the authors' script counted, in fvcore units (one multiply-add = one "flop").
- `macs`: everything that costs compute, fvcore units; scans by the papers' formula.
- `flops`: true FLOPs: 2 x the multiply-add counts, plus the scan formula (already in FLOPs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from vzoo.core.registry import Row

SasfCount = Literal["taps", "none"]
ParamsCount = Literal["total", "trainable", "without-aux-head"]
Tool = Literal["fvcore", "mmcv1-hooks"]


@dataclass(frozen=True)
class Convention:
    name: str  # stored with the numbers in the results store
    count_scan: bool  # the authors registered a handle for their scan op (else fvcore skips it)
    sasf: SasfCount  # "taps": three dilated 3x3 convs (27 MACs/element); "none": skipped
    params: ParamsCount
    bn_training: bool  # traced in training mode: fvcore prices batch_norm at 5/element, not 2
    how: str  # one sentence: the authors' tool and what it traced
    source: str  # where that was read
    tool: Tool = "fvcore"  # "mmcv1-hooks": mmcv 1.x's module-hook counter (flops/hook_counter.py)
    # The released counting script's own convention, where it does NOT reproduce the published
    # figures but another reading of the same model does (shown next to it in the report).
    script: Convention | None = None


COMPLETE = Convention(
    name="complete",
    count_scan=True,
    sasf="taps",
    params="total",
    bn_training=False,
    how="every op that costs compute, model in eval mode",
    source="vzoo",
)


def paper_convention(row: Row) -> Convention:
    """The authors' counting convention for this row, from its family card (COMPLETE where the
    card declares none, e.g. mmdet's baselines)."""
    from vzoo.zoo.cards import find_card

    card = find_card(row.family)
    return card.flops.get(row.task, COMPLETE) if card is not None else COMPLETE
