"""How a paper counted its params and FLOPs: the `Convention` (`vzoo.core.cards`) each family
card declares, and which one a row is counted under.

One fvcore trace of vzoo's model gives a breakdown (standard ops, selective scans, a family's
state fusion, batch norms); a `Convention` says which parts the authors' tool saw and how it
priced them, so every convention is derived from the same trace:

- `paper`: what the authors' script counted, in fvcore units (one multiply-add = one "flop").
- `macs`: everything that costs compute, fvcore units; scans by the papers' formula.
- `flops`: true FLOPs: 2 x the multiply-add counts, plus the scan formula (already in FLOPs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vzoo.core.cards import COMPLETE, Convention, find_card

if TYPE_CHECKING:
    from vzoo.core.registry import Row

__all__ = ["COMPLETE", "Convention", "paper_convention"]


def paper_convention(row: Row) -> Convention:
    """The authors' counting convention for this row, from its family card (COMPLETE where the
    card declares none, e.g. mmdet's baselines)."""
    card = find_card(row.family)
    return card.flops.get(row.task, COMPLETE) if card is not None else COMPLETE
