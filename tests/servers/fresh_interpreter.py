"""The environment of a fresh interpreter that imports the same vzoo as this test session.

Not by putting the checkout's parent on PYTHONPATH: every sibling of the checkout would become
importable, and a clone named `copy` (or `json`, ...) would shadow the standard library. A
private directory holding one `vzoo` link to the package is put first instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

import vzoo


@cache
def _link_dir() -> Path:
    root = Path(tempfile.mkdtemp(prefix="vzoo-import-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "vzoo").symlink_to(Path(vzoo.__file__).resolve().parent, target_is_directory=True)
    return root


def same_vzoo_env(**extra: str) -> dict[str, str]:
    """os.environ with PYTHONPATH leading to this session's vzoo, and nothing beside it."""
    path = os.pathsep.join(p for p in (str(_link_dir()), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}
