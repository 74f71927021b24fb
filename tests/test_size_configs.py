"""Size-variant configs inherit from their family's smallest config of the same recipe (as
mmdet's own Swin-S config does from Swin-T) and state only what differs: the structure is read
from the files, and what each variant resolves to is checked against a frozen list of the keys
where it differs from that base."""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any

import pytest

from vzoo.core import cards
from vzoo.settings import package_root

CONFIGS = package_root() / "zoo" / "configs"


def _base_of(path: Path) -> list[str]:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_base_":
            return list(ast.literal_eval(node.value))
    return []


def _variants() -> list[tuple[Path, Path]]:
    """(variant, the config it should inherit from): per family folder and recipe (the name
    after the size, e.g. 1x, upernet_160k), the card's smallest size with a config is the base."""
    pairs = []
    for card in cards.all_cards():
        folder = CONFIGS / card.name.replace("-", "_")
        prefix = card.name.replace("-", "_")
        by_recipe: dict[str, list[Path]] = {}
        for size in card.sizes:  # smallest first
            for path in sorted(folder.glob(f"{prefix}_{size.lower()}_*.py")):
                recipe = path.stem.removeprefix(f"{prefix}_{size.lower()}_")
                by_recipe.setdefault(recipe, []).append(path)
        pairs += [(v, paths[0]) for paths in by_recipe.values() for v in paths[1:]]
    return pairs


def test_every_size_variant_inherits_from_its_familys_smallest_config() -> None:
    pairs = _variants()
    assert len(pairs) == 15  # mlla 3, msvmamba 3, sparx-mamba 4, spatial-mamba 5
    for variant, base in pairs:
        assert _base_of(variant) == [f"./{base.name}"], variant.name


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: value}


# What each variant resolves to, where it differs from its T config (everything else is T's).
SPARX_S = {"model.backbone.type": "sparx_mamba_s", "model.backbone.drop_path_rate": 0.3,
           "model.neck.in_channels": [96, 192, 328, 544],
           "default_hooks.checkpoint.max_keep_ckpts": 3}  # fmt: skip
SPARX_B = {"model.backbone.type": "sparx_mamba_b", "model.backbone.drop_path_rate": 0.45,
           "model.neck.in_channels": [120, 240, 396, 636],
           "default_hooks.checkpoint.max_keep_ckpts": 3}  # fmt: skip
SPATIAL_S = {"model.backbone.depths": (2, 4, 21, 5), "model.backbone.drop_path_rate": 0.3}
SPATIAL_B = {**SPATIAL_S, "model.backbone.dims": 96, "model.backbone.drop_path_rate": 0.5,
             "model.neck.in_channels": [96, 192, 384, 768]}  # fmt: skip
DIFFERS_FROM_T = {
    "sparx_mamba/sparx_mamba_s_1x.py": SPARX_S,
    "sparx_mamba/sparx_mamba_s_3x.py": SPARX_S,
    "sparx_mamba/sparx_mamba_b_1x.py": SPARX_B,
    "sparx_mamba/sparx_mamba_b_3x.py": SPARX_B,
    "spatial_mamba/spatial_mamba_s_1x.py": SPATIAL_S,
    "spatial_mamba/spatial_mamba_s_3x.py": SPATIAL_S,
    "spatial_mamba/spatial_mamba_b_1x.py": SPATIAL_B,
}


@functools.cache
def _resolved(path: Path) -> dict[str, Any]:
    """A config with its bases merged, flattened to dotted keys (read once per session)."""
    from mmengine.config import Config

    return _flat(Config.fromfile(str(path)).to_dict())


@pytest.mark.parametrize("variant", sorted(DIFFERS_FROM_T))
def test_a_variant_resolves_to_its_t_config_plus_only_what_differs(variant: str) -> None:
    path = CONFIGS / variant
    (base,) = _base_of(path)
    resolved, t_config = _resolved(path), _resolved(path.parent / base)
    assert resolved.keys() == t_config.keys()
    differs = {k: v for k, v in resolved.items() if v != t_config[k]}
    assert differs == DIFFERS_FROM_T[variant]
