"""Family cards: everything vzoo needs to know about a model family, declared in one place.

The schema (`FamilyCard`, `Method`, `Preprocess`, `Convention`) is a core type: the family modules
in `zoo/` (and plugins) fill it in, and every room above reads it without importing zoo.

A family is one module under `zoo/` (or a plugin's module) holding its architectures, builders
and mmdet/mmseg registration, and a `CARD = FamilyCard(...)` that declares the rest: its arch
ids, the detection/segmentation methods it brings, each arch's ImageNet eval transform, how its
released checkpoints name their keys, how its paper counted FLOPs. Everything outside the family
module (registry validation, eval, flops, bench, reports, the CLI) asks the cards; nothing else
names a family.

Cards are collected from
- the built-in family modules (`vzoo/zoo/*.py` holding a `CARD = FamilyCard(...)`), read
  *statically*: the card is plain data (literals and the constructors below), so `vzoo list`
  knows the families without importing torch; `tests/test_cards.py` checks the static reading
  equals the imported module's `CARD`;
- installed plugins: entry points in the group `vzoo.families`, each naming a `FamilyCard`
  (`my_pkg.card:CARD`); a plugin card may list registry files (`rows`) that join the registry.
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vzoo.core.errors import UserInputError, VzooError
from vzoo.core.tasks import Method, entry_point_objects

ENTRY_POINT_GROUP = "vzoo.families"
_CARD_START = "\nCARD = FamilyCard("
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """Resize the short side to size/crop_pct, centre-crop `size`, normalise (timm-style eval)."""

    size: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


SasfCount = Literal["taps", "none"]
ParamsCount = Literal["total", "trainable", "without-aux-head"]
CountingTool = Literal["fvcore", "mmcv1-hooks"]


@dataclass(frozen=True)
class Convention:
    """How a paper counted its params and FLOPs (`vzoo.flops.conventions` says how it is used)."""

    name: str  # stored with the numbers in the results store
    count_scan: bool  # the authors registered a handle for their scan op (else fvcore skips it)
    sasf: SasfCount  # "taps": three dilated 3x3 convs (27 MACs/element); "none": skipped
    params: ParamsCount
    bn_training: bool  # traced in training mode: fvcore prices batch_norm at 5/element, not 2
    how: str  # one sentence: the authors' tool and what it traced
    source: str  # where that was read
    tool: CountingTool = "fvcore"  # "mmcv1-hooks": mmcv 1.x's module-hook counter
    # The released counting script's own convention, where it does NOT reproduce the published
    # figures but another reading of the same model does (shown next to it in the report).
    script: Convention | None = None


# What vzoo counts where a card declares no convention (e.g. mmdet's baselines).
COMPLETE = Convention(
    name="complete",
    count_scan=True,
    sasf="taps",
    params="total",
    bn_training=False,
    how="every op that costs compute, model in eval mode",
    source="vzoo",
)


@dataclass(frozen=True)
class FamilyCard:
    """Everything vzoo knows about one model family besides its code (see this module's doc)."""

    name: str  # the registry's `family` value
    label: str  # how reports and plots name it
    module: str  # importing it defines the builders and registers the mmdet/mmseg types
    archs: tuple[str, ...] = ()  # arch ids `build_classifier` / `build_backbone` accept
    # its sizes, smallest first, as its papers print them (T, S, B): arch ids end in them (mlla-t);
    # reports name a row's size and figures order a family's curve by them (`core/sizes.py`)
    sizes: tuple[str, ...] = ()
    methods: tuple[Method, ...] = ()
    # arch id -> ImageNet eval transform; archs not listed use `Preprocess()` (the Swin/timm one)
    preprocess: dict[str, Preprocess] = field(default_factory=dict)
    # "mmdet2": the released detector checkpoints use mmdet-2 key names (`map_mmdet2_keys`)
    checkpoint_keys: str | None = None
    # "module:attr" of a `vzoo.zoo.mmdet2_keys.RuleSet` for the family's own heads' keys
    checkpoint_key_rules: str | None = None
    # task -> how the paper counted params and FLOPs
    flops: dict[str, Convention] = field(default_factory=dict)
    # "module.Class" of layers the FLOP count prices as state fusion (three dilated 3x3 convs)
    state_fusion: tuple[str, ...] = ()
    registers: tuple[str, ...] = ()  # type names in mmdet's / mmseg's MODELS
    color: str | None = None  # plots: the family's colour (matplotlib colour spec)
    marker: str | None = None  # plots: the family's marker
    rows: tuple[str, ...] = ()  # plugins: registry files, relative to the card's module

    def preprocess_for(self, arch: str) -> Preprocess:
        """The ImageNet eval transform of `arch` (the Swin/timm one unless declared)."""
        return self.preprocess.get(arch, Preprocess())

    def builder(self, kind: str) -> Callable[..., Any]:
        """`build_classifier` / `build_backbone` of the family module (imports it: torch)."""
        return getattr(importlib.import_module(self.module), kind)

    def row_files(self) -> list[Path]:
        """The card's registry files (found beside its module, without importing it)."""
        if not self.rows:
            return []
        spec = importlib.util.find_spec(self.module)
        if spec is None or spec.origin is None:
            raise VzooError(f"family {self.name}: module {self.module} not found")
        return [Path(spec.origin).parent / rel for rel in self.rows]


# ------------------------------------------------------------------------------ the card registry
def _static_card(path: Path) -> FamilyCard | None:
    """`CARD = FamilyCard(...)` of a family module, evaluated from its source without importing
    the module (which imports torch). Plain string constants assigned above the card may be used
    in it; anything else must be a literal or one of the card's own constructors."""
    text = path.read_text(encoding="utf-8")
    start = text.find(_CARD_START)
    if start < 0:
        return None
    end = text.find("\n)", start)  # the card's closing parenthesis, at the start of a line
    # only the module head up to the card is parsed (the layers below it are most of the file)
    tree = ast.parse(text[: end + 2] if end >= 0 else text, str(path))
    names: dict[str, Any] = {
        "FamilyCard": FamilyCard, "Preprocess": Preprocess, "Method": Method,
        "Convention": Convention, "__builtins__": {},
    }  # fmt: skip
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else None
        if not isinstance(target, ast.Name):
            continue
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            names[target.id] = node.value.value
        elif target.id == "CARD":
            code = compile(ast.Expression(node.value), str(path), "eval")
            card = eval(code, names)  # our own package's source, constructors only
            if not isinstance(card, FamilyCard):
                raise VzooError(f"{path}: CARD is not a FamilyCard")
            return card
    return None


def builtin_module_paths() -> dict[str, Path]:
    """Module name -> source of every built-in family module (a zoo/*.py with a CARD), found by
    reading the files: core never imports the zoo that fills its cards in."""
    zoo = Path(__file__).resolve().parent.parent / "zoo"
    return {
        f"vzoo.zoo.{p.stem}": p
        for p in sorted(zoo.glob("*.py"))
        if _CARD_START in p.read_text(encoding="utf-8")
    }


def _plugin_cards() -> list[FamilyCard]:
    return entry_point_objects(ENTRY_POINT_GROUP, "family", FamilyCard)


@functools.lru_cache(maxsize=1)
def _cards() -> dict[str, FamilyCard]:
    cards: dict[str, FamilyCard] = {}
    found = [c for p in builtin_module_paths().values() if (c := _static_card(p))]
    for card in [*found, *_plugin_cards()]:
        if card.name in cards:
            raise VzooError(
                f"family '{card.name}' is declared twice ({cards[card.name].module}, {card.module})"
            )
        cards[card.name] = card
    return cards


def all_cards() -> list[FamilyCard]:
    """Every family card: built-in ones, then plugins'."""
    return list(_cards().values())


def family_names() -> tuple[str, ...]:
    """The registry's valid `family` values, one per card."""
    return tuple(_cards())


def find_card(family: str) -> FamilyCard | None:
    """The card of a family (None for a family without one, e.g. mmdet's own models)."""
    return _cards().get(family)


def card_for_arch(arch: str) -> FamilyCard:
    """The card whose family builds `arch` (unknown arch: exit 2 with the closest ids)."""
    for card in _cards().values():
        if arch in card.archs:
            return card
    known = sorted(a for c in _cards().values() for a in c.archs)
    close = difflib.get_close_matches(arch, known, n=3)
    hint = f"; did you mean: {', '.join(close)}?" if close else ""
    raise UserInputError(f"unknown arch '{arch}'{hint} (known: {', '.join(known)})")


def card_methods() -> dict[str, Method]:
    """The methods the families bring, by name (mmdet's/mmseg's own are on their tasks)."""
    return {m.name: m for card in _cards().values() for m in card.methods}


def clear_cache() -> None:
    """Forget the collected cards (tests that install a plugin mid-session)."""
    _cards.cache_clear()
