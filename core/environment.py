"""The `VZOO_*` variables a command depends on, checked before any work: a typo in one is one
line and exit 2, not an internal error when a download or a model finally reads it.

`vzoo doctor` reports them instead of refusing (it is where a broken setting is diagnosed).
"""

from __future__ import annotations

import os
import re

from vzoo import settings
from vzoo.core.errors import UserInputError, quote
from vzoo.core.urls import url_problem

# VZOO_GITHUB_ENDPOINT, VZOO_DRIVE_ENDPOINT, VZOO_GITHUB_API_ENDPOINT, ...: base URLs of hosts
_ENDPOINT_VAR = re.compile(r"VZOO_[A-Z0-9_]*ENDPOINT")
SCAN_BACKEND_VAR = "VZOO_SCAN_BACKEND"


def check_environment() -> None:
    """Every `VZOO_*_ENDPOINT` an http(s) URL with a host; `VZOO_SCAN_BACKEND` a known backend."""
    for name in sorted(os.environ):  # which are set; their values come from `settings`
        value = settings.text(name) if _ENDPOINT_VAR.fullmatch(name) else None
        if value and (problem := url_problem(value)):
            raise UserInputError(
                f"{name}={quote(value)} is not an http(s) URL ({problem}): set it to the "
                f"host's base URL (e.g. https://host:port) or unset it"
            )
    backend = settings.scan_backend()
    if backend and backend != "auto":
        from vzoo.kernels.selective_scan import BACKENDS  # torch: only when the variable is set

        if backend not in BACKENDS:
            raise UserInputError(
                f"{SCAN_BACKEND_VAR}={quote(backend)} is not a selective-scan backend: choose one "
                f"of auto, {', '.join(BACKENDS)}, or unset it"
            )
