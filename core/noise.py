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

# Loggers of libraries that log warnings about themselves (mmengine's MMLogger is "mmengine").
THIRD_PARTY_LOGGERS = ("mmengine", "mmdet", "mmseg", "mmcv", "numba", "fvcore", "timm")
# vzoo's own warnings stay visible: they are about the user's command.
_OWN_MODULES = r"vzoo(\..*)?$"
_saved_filters: list[tuple[object, ...]] | None = None


def quiet_third_party(verbose: bool = False) -> bool:
    """Silence third-party warnings unless `verbose`; returns whether it silenced anything."""
    if verbose or sys.warnoptions:  # the user asked to see warnings
        return False
    global _saved_filters
    if _saved_filters is None:
        _saved_filters = list(warnings.filters)
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=_OWN_MODULES)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    return True


def restore_third_party() -> None:
    """Undo `quiet_third_party` (a command's own `--verbose`)."""
    global _saved_filters
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
