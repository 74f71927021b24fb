"""Model sizes: the one vocabulary reports and figures read.

A family card declares its sizes, smallest first, as its papers print them (`FamilyCard.sizes`:
T, S, B or nano, micro, tiny), and its arch ids end in them (mlla-t, msvmamba-nano). Archs no card
declares (mmdet's baselines: swin-t-p4-w7) are read with the generic ladder below.
"""

from __future__ import annotations

import re
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


def arch_parts(family: str, arch: str) -> tuple[str, str]:
    """(backbone, size) an arch names: ("mlla", "T") for mlla-t, ("msvmamba", "nano") for
    msvmamba-nano, ("swin", "T") for mmdet's swin-t-p4-w7, ("r", "50") for r50.

    Here, below the report and the figures, so both read it and neither imports the other.
    Single letters are upper-cased as the papers print them (MLLA-T, SparX-Mamba-S): a family's
    sizes are those its card declares (`FamilyCard.sizes`, checked against its archs).
    """
    if arch.startswith(f"{family}-"):
        backbone, size = family, arch[len(family) + 1 :]
    else:
        tokens = arch.split("-")
        depth = re.fullmatch(r"([a-z]+?)(\d+)", tokens[0])
        if len(tokens) > 1 and is_size_word(tokens[1]):
            backbone, size = tokens[0], tokens[1]
        elif depth:
            backbone, size = depth.group(1), depth.group(2)
        else:
            backbone, size = arch, arch
    return backbone, printed(size)
