"""Every `VZOO_*` environment variable vzoo reads, read here and nowhere else, and the folders
they decide: where vzoo keeps its state.

One truthiness rule for switches: 1/true/yes/on turn one on, 0/false/no/off turn it off (any
case; unset or empty: the switch's default); any other value is an error naming the variable,
not a silent default. A command-line flag replaces its variable (the CLI passes the flag's value
down; the variable is read only when the flag is absent).

Where vzoo keeps its state: measurements in a data folder, downloads in a cache folder. With
`VZOO_HOME` set, both live under it (`$VZOO_HOME/results`, `$VZOO_HOME/registry.yaml`,
`$VZOO_HOME/checkpoints`): one folder to share on a cluster, and nothing outside it is written.
Without it they follow the platform's conventions: what the user made (results, their registry
overlay) under the user *data* dir (e.g. ~/.local/share/vzoo), caches under the user *cache* dir
(e.g. ~/.cache/vzoo), so clearing caches never deletes measurements. The folders are named here
and created where they are first written (`core.files.created_home`).

This module imports nothing of vzoo: it sits below every layer, kernels included, so the scan
kernels' switches follow the same rule as the CLI's.
"""

from __future__ import annotations

import os
from pathlib import Path

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class SettingError(ValueError):
    """A `VZOO_*` variable holds a value vzoo cannot use (the CLI: exit 2, one line)."""


def text(name: str) -> str | None:
    """The variable's value, stripped; None when unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or None


def switch(name: str, default: bool = False) -> bool:
    """A yes/no variable, by the one truthiness rule."""
    value = text(name)
    if value is None:
        return default
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SettingError(
        f"{name}={value!r} is neither on nor off: use 1/true/yes/on or 0/false/no/off"
    )


def path(name: str) -> Path | None:
    value = text(name)
    return Path(value).expanduser() if value is not None else None


# ------------------------------------------------------------------------------- the variables
def home() -> Path | None:
    """VZOO_HOME: cache, results and everything else vzoo writes (default: the user cache dir)."""
    return path("VZOO_HOME")


def data_dir() -> Path | None:
    """VZOO_DATA: where datasets are looked for (`<VZOO_DATA>/<name>`)."""
    return path("VZOO_DATA")


def work_dir() -> Path | None:
    """VZOO_WORK_DIR: eval's logs and detections (default work_dirs/vzoo-eval)."""
    return path("VZOO_WORK_DIR")


def index_dir() -> Path | None:
    """VZOO_INDEX_DIR: where the results store's local indexes live."""
    return path("VZOO_INDEX_DIR")


def registry_overlays() -> list[Path]:
    """VZOO_REGISTRY=a.yaml:b.yaml (os.pathsep-separated): files laid over the packaged rows."""
    value = text("VZOO_REGISTRY") or ""
    return [Path(p.strip()).expanduser() for p in value.split(os.pathsep) if p.strip()]


def offline() -> bool:
    """VZOO_OFFLINE: never touch the network (as `--offline`)."""
    return switch("VZOO_OFFLINE")


def debug() -> bool:
    """VZOO_DEBUG: show the traceback of an internal error."""
    return switch("VZOO_DEBUG")


def endpoint(host: str) -> str | None:
    """VZOO_<HOST>_ENDPOINT: a weights host's base URL (tests point it at a loopback server)."""
    return text(f"VZOO_{host.upper()}_ENDPOINT")


def scan_backend() -> str | None:
    """VZOO_SCAN_BACKEND: the selective-scan backend (reference | torch | triton | auto)."""
    return text("VZOO_SCAN_BACKEND")


def scan_numba() -> bool:
    """VZOO_SCAN_NUMBA: the compiled CPU scan recurrence (on by default)."""
    return switch("VZOO_SCAN_NUMBA", default=True)


def scan_simd() -> bool:
    """VZOO_SCAN_SIMD: the SIMD CPU scan kernel (on by default)."""
    return switch("VZOO_SCAN_SIMD", default=True)


def sasf_numba() -> bool:
    """VZOO_SASF_NUMBA: the compiled state-fusion kernel (on by default)."""
    return switch("VZOO_SASF_NUMBA", default=True)


# ------------------------------------------------------------------ where vzoo keeps things
def package_root() -> Path:
    """The installed `vzoo` package directory (holds registry.yaml and zoo/configs)."""
    return Path(__file__).resolve().parent


def user_cache_home() -> Path:
    """The platform's cache folder for vzoo (e.g. ~/.cache/vzoo); not created here."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vzoo", appauthor=False))


def cache_home() -> Path:
    """Where caches live (checkpoints): `VZOO_HOME`, else the user cache dir."""
    return home() or user_cache_home()


def data_home() -> Path:
    """Where the user's own state lives (the results store): `VZOO_HOME`, else the user data dir
    (e.g. ~/.local/share/vzoo; never the cache dir)."""
    from platformdirs import user_data_dir

    return home() or Path(user_data_dir("vzoo", appauthor=False))


def user_registry_path() -> Path:
    """The user's registry overlay, `registry.yaml` in the data home (`$VZOO_HOME`): loaded when
    it exists; where `vzoo registry pin` writes by default (never into the installed package).
    The user's own edits: not in the cache dir, which may be cleared at any time."""
    return data_home() / "registry.yaml"


def former_data_homes() -> list[Path]:
    """Where earlier versions of vzoo kept results that now belong in `data_home()`: the user
    cache dir, when `VZOO_HOME` is not set (with it set, results never moved)."""
    if home() is not None:
        return []
    return [user_cache_home()]
