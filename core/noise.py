"""What third-party libraries print that a vzoo user cannot act on, silenced in one place.

mmengine imports `pkg_resources` (a deprecation warning per importing module), mmdet / mmseg /
torch warn about their own internals. None of it is about the user's command, and it buried the
first useful line of `vzoo eval`. `quiet_third_party()` runs once at CLI start: Python warnings
raised from outside vzoo are ignored and the OpenMMLab loggers only speak on errors. `--verbose`
(or any `-W` / `PYTHONWARNINGS` the user set) keeps everything.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any, TextIO

# Loggers of libraries that log warnings about themselves (mmengine's MMLogger is "mmengine").
THIRD_PARTY_LOGGERS = ("mmengine", "mmdet", "mmseg", "mmcv", "numba", "fvcore", "timm")
# vzoo's own warnings stay visible: they are about the user's command.
_OWN_MODULES = r"vzoo(\..*)?$"
_saved_filters: list[tuple[object, ...]] | None = None
_saved_showwarning: Any = None


def _from_vzoo(filename: str) -> bool:
    from vzoo.core.paths import package_root

    try:
        return Path(filename).resolve().is_relative_to(package_root())
    except (OSError, ValueError):
        return False


def _show_own_only(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Libraries reset the filters (mmdet's init_detector calls simplefilter('once')): the
    last gate is here, where a warning would be printed."""
    if _from_vzoo(filename):
        _saved_showwarning(message, category, filename, lineno, file, line)


def quiet_third_party(verbose: bool = False) -> bool:
    """Silence third-party warnings unless `verbose`; returns whether it silenced anything."""
    if verbose or sys.warnoptions:  # the user asked to see warnings
        return False
    global _saved_filters, _saved_showwarning
    if _saved_filters is None:
        _saved_filters = list(warnings.filters)
        _saved_showwarning = warnings.showwarning
        warnings.showwarning = _show_own_only
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=_OWN_MODULES)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    return True


def restore_third_party() -> None:
    """Undo `quiet_third_party` (a command's own `--verbose`)."""
    global _saved_filters, _saved_showwarning
    if _saved_showwarning is not None:
        warnings.showwarning = _saved_showwarning
        _saved_showwarning = None
    if _saved_filters is not None:
        warnings.resetwarnings()
        for action, message, category, module, lineno in reversed(_saved_filters):
            warnings.filterwarnings(
                action,  # type: ignore[arg-type]
                message=getattr(message, "pattern", message) or "",
                category=category,  # type: ignore[arg-type]
                module=getattr(module, "pattern", module) or "",
                lineno=lineno,  # type: ignore[arg-type]
            )
        _saved_filters = None
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
