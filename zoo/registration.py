"""Registering our backbones in mmdet's and mmseg's `MODELS` under the authors' type names."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

LIBRARIES = ("mmdet", "mmseg")


def register_backbone(
    name: str, module: type | Callable[..., Any], libraries: tuple[str, ...] = LIBRARIES
) -> list[str]:
    """Register `module` as `name` in each library's MODELS that imports; returns those libraries.

    Either library may be missing (mmseg is the optional `seg` extra), or refuse to import with a
    mismatched mmcv (it asserts): registration there is skipped. `force=True` makes a re-import
    (or two copies of vzoo) replace rather than fail.
    """
    done = []
    for lib in libraries:
        try:
            registry = importlib.import_module(f"{lib}.registry").MODELS
        except (ImportError, AssertionError):
            continue
        registry.register_module(name=name, module=module, force=True)
        done.append(lib)
    return done
