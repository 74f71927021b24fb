"""Where vzoo keeps its state: measurements in a data folder, downloads in a cache folder.

With `VZOO_HOME` set, both live under it (`$VZOO_HOME/results`, `$VZOO_HOME/registry.yaml`,
`$VZOO_HOME/checkpoints`): one folder to share on a cluster, and nothing outside it is written.
Without it they follow the platform's conventions: what the user made (results, their registry
overlay) under the user *data* dir (e.g. ~/.local/share/vzoo), caches under the user *cache* dir
(e.g. ~/.cache/vzoo), so clearing caches never deletes measurements.
"""

from __future__ import annotations

from pathlib import Path

from vzoo import settings


def _created(home: Path) -> Path:
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from vzoo.core.errors import StoreError

        raise StoreError(
            f"cannot create the vzoo folder {home}: {e.strerror or e}; set VZOO_HOME to a "
            f"writable directory"
        ) from e
    return home


def _home_from_env() -> Path | None:
    return settings.home()


def user_cache_home() -> Path:
    """The platform's cache folder for vzoo (e.g. ~/.cache/vzoo); not created here."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vzoo", appauthor=False))


def vzoo_home_path() -> Path:
    """Where caches live (`VZOO_HOME`, else the user cache dir), without creating it."""
    return _home_from_env() or user_cache_home()


def vzoo_home() -> Path:
    """Where caches live (checkpoints): `VZOO_HOME`, else the user cache dir. Created on use."""
    return _created(vzoo_home_path())


def data_home_path() -> Path:
    """Where the user's own state lives (`VZOO_HOME`, else the user data dir, e.g.
    ~/.local/share/vzoo; never the cache dir), without creating it."""
    from platformdirs import user_data_dir

    return _home_from_env() or Path(user_data_dir("vzoo", appauthor=False))


def data_home() -> Path:
    """Where measurements live (the results store): `data_home_path()`, created on first use."""
    return _created(data_home_path())


def user_registry_path() -> Path:
    """The user's registry overlay, `registry.yaml` in the data home (`$VZOO_HOME`): loaded when
    it exists; where `vzoo registry pin` writes by default (never into the installed package).
    The user's own edits: not in the cache dir, which may be cleared at any time."""
    return data_home_path() / "registry.yaml"


def former_data_homes() -> list[Path]:
    """Where earlier versions of vzoo kept results that now belong in `data_home()`: the user
    cache dir, when `VZOO_HOME` is not set (with it set, results never moved)."""
    if _home_from_env() is not None:
        return []
    return [user_cache_home()]


def package_root() -> Path:
    """The installed `vzoo` package directory (holds registry.yaml and zoo/configs)."""
    return Path(__file__).resolve().parent.parent
