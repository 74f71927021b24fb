"""Model sizes: the one vocabulary reports and figures read.

A family card declares its sizes, smallest first, as its papers print them (`FamilyCard.sizes`:
T, S, B or nano, micro, tiny), and its arch ids end in them (mlla-t, msvmamba-nano). Archs no card
declares (mmdet's baselines: swin-t-p4-w7) are read with the generic ladder below.
"""

from __future__ import annotations

from collections.abc import Sequence

# The generic sizes, smallest first: each word with the letter papers print for it.
LADDER = (
    ("nano", "N"),
    ("micro", "M"),
    ("tiny", "T"),
    ("small", "S"),
    ("base", "B"),
    ("large", "L"),
)
_RANK = {form.lower(): rank for rank, forms in enumerate(LADDER) for form in forms}


def is_size_word(token: str) -> bool:
    """A word or letter of the ladder ("t", "tiny", "B"), in any case."""
    return token.lower() in _RANK


def printed(size: str) -> str:
    """A size as papers print it: single letters upper-cased (MLLA-T), words as they are."""
    return size.upper() if len(size) == 1 else size


def size_rank(size: str, declared: Sequence[str] = ()) -> int:
    """Where a size sits along its family's curve: its place among the family card's `declared`
    sizes, else on the ladder; anything else after all of them."""
    if size in declared:
        return list(declared).index(size)
    return _RANK.get(size.lower(), len(LADDER)) + len(declared)
