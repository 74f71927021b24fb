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
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from vzoo.core.errors import StoreError

        raise StoreError(
            f"cannot create the vzoo home {home}: {e.strerror or e}; set VZOO_HOME to a writable "
            f"directory"
        ) from e
    return home


def package_root() -> Path:
    """The installed `vzoo` package directory (holds registry.yaml and zoo/configs)."""
    return Path(__file__).resolve().parent.parent
