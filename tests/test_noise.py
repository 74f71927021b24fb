"""Third-party warnings and logs stay off the terminal unless `vzoo --verbose` (issue #17)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from servers.fresh_interpreter import same_vzoo_env

NOISY_LIB = """
import logging
import warnings

warnings.warn("pkg_resources is deprecated as an API", UserWarning)
logging.getLogger("mmengine").warning("mmengine talks about itself")
"""
SCRIPT = """
import sys
import warnings
from vzoo.cli.main import app, run

@app.command("noisy")
def noisy() -> None:
    import noisy_lib  # a third-party import that warns, as mmengine's does
    import vzoo.cli.main as own
    warnings.warn_explicit("vzoo's own warning", UserWarning, own.__file__, 1, module=own.__name__)
    warnings.simplefilter("once")  # as mmdet's init_detector does: filters are not enough
    warnings.warn_explicit("late library noise", UserWarning, noisy_lib.__file__, 2)
    print("useful output")

run(sys.argv[1:])
"""


def _run(
    tmp_path: Path,
    *args: str,
    python_flags: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The CLI with a `noisy` command in a fresh interpreter (warnings fire on first import)."""
    (tmp_path / "noisy_lib.py").write_text(NOISY_LIB)
    (tmp_path / "script.py").write_text(SCRIPT)
    full_env = same_vzoo_env()
    full_env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), full_env["PYTHONPATH"]])  # noisy_lib
    full_env.pop("PYTHONWARNINGS", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, *python_flags, str(tmp_path / "script.py"), *args],
        capture_output=True, text=True, env=full_env, timeout=120,
    )  # fmt: skip


def test_third_party_warnings_and_logs_only_with_verbose(tmp_path: Path) -> None:
    quiet = _run(tmp_path, "noisy")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "useful output\n"
    assert "pkg_resources" not in quiet.stderr and "mmengine talks" not in quiet.stderr
    assert "late library noise" not in quiet.stderr
    assert "vzoo's own warning" in quiet.stderr  # ours are about the user's command: kept
    loud = _run(tmp_path, "--verbose", "noisy")
    assert "pkg_resources is deprecated" in loud.stderr
    assert "mmengine talks about itself" in loud.stderr
    assert "late library noise" in loud.stderr
    assert "vzoo's own warning" in loud.stderr


@pytest.mark.parametrize(
    "how", [{"python_flags": ("-W", "default")}, {"env": {"PYTHONWARNINGS": "default"}}]
)
def test_a_users_own_warning_filter_is_respected(tmp_path: Path, how: dict[str, Any]) -> None:
    res = _run(tmp_path, "noisy", **how)
    assert res.returncode == 0, res.stderr
    assert "pkg_resources is deprecated" in res.stderr
