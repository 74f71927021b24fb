"""Where vzoo keeps its state: the vzoo home (results store, checkpoint cache)."""

from __future__ import annotations

from pathlib import Path

from vzoo import settings


def vzoo_home_path() -> Path:
    """Where the vzoo home is (`VZOO_HOME`, else the user cache dir), without creating it."""
    home = settings.home()
    if home is not None:
        return home
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vzoo", appauthor=False))


def user_registry_path() -> Path:
    """The user's registry overlay, `$VZOO_HOME/registry.yaml`: loaded when it exists; where
    `vzoo registry pin` writes by default (never into the installed package)."""
    return vzoo_home_path() / "registry.yaml"


def vzoo_home() -> Path:
    """`VZOO_HOME`, else the user cache dir (e.g. ~/.cache/vzoo). Created on first use."""
    home = vzoo_home_path()
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
