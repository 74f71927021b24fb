"""Where vzoo keeps its state: the vzoo home (results store, checkpoint cache)."""

from __future__ import annotations

import os
from pathlib import Path


def vzoo_home() -> Path:
    """`VZOO_HOME`, else the user cache dir (e.g. ~/.cache/vzoo). Created on first use."""
    env = os.environ.get("VZOO_HOME")
    if env:
        home = Path(env).expanduser()
    else:
        from platformdirs import user_cache_dir

        home = Path(user_cache_dir("vzoo", appauthor=False))
    home.mkdir(parents=True, exist_ok=True)
    return home


def package_root() -> Path:
    """The installed `vzoo` package directory (holds registry.yaml and zoo/configs)."""
    return Path(__file__).resolve().parent.parent
