"""Every `VZOO_*` environment variable vzoo reads, read here and nowhere else.

One truthiness rule for switches: 1/true/yes/on turn one on, 0/false/no/off turn it off (any
case; unset or empty: the switch's default); any other value is an error naming the variable,
not a silent default. A command-line flag replaces its variable (the CLI passes the flag's value
down; the variable is read only when the flag is absent).

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
