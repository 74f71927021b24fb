"""TinyNet: a worked example of a vzoo family plugin.

The card is plain data (no torch import), so `vzoo list` stays fast; the layers live in
`vzoo_tinynet.model`, imported only when a model is built. `rows.yaml` ships the registry rows.
"""

from vzoo.core.cards import FamilyCard, Preprocess

CARD = FamilyCard(
    name="tinynet",
    label="TinyNet",
    module="vzoo_tinynet.model",  # build_classifier / build_backbone; registers "TinyNet"
    archs=("tinynet-s",),
    sizes=("S",),  # smallest first, as arch ids end: reports and figures read sizes here
    preprocess={"tinynet-s": Preprocess(crop_pct=0.9)},
    registers=("TinyNet",),
    color="#56B4E9",
    marker="P",
    rows=("rows.yaml",),  # relative to this package
)
