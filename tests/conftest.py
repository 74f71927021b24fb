"""Shared fixtures: each test gets its own vzoo home, never a user's cache or store; `cli` runs
`vzoo ARGS` in-process."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

# On a CPU shared with other jobs, libgomp's default spin-waiting made torch's 2-thread forwards
# ~10x slower (msvmamba-nano: 10 s a pass against 0.9 s passive). libgomp reads this when torch
# loads, which is after this file; the tests' subprocesses inherit it. A user's setting stays.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def vzoo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "vzoo-home"
    monkeypatch.setenv("VZOO_HOME", str(home))
    # the results store's local index: per test, not in the machine's shared tmp
    monkeypatch.setenv("VZOO_INDEX_DIR", str(tmp_path / "vzoo-index"))
    monkeypatch.delenv("VZOO_OFFLINE", raising=False)
    monkeypatch.delenv("VZOO_SCAN_BACKEND", raising=False)
    monkeypatch.delenv("VZOO_REGISTRY", raising=False)  # overlays only where a test sets them
    return home


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` beside the checkout (seeds, reference state dicts, wheels)."""
    if not SHARED.is_dir():  # a clone outside the workspace: these tests cannot run, say why
        pytest.skip(
            f"../shared not found at {SHARED}: it holds the papers' seed READMEs and the authors' "
            "reference outputs these tests compare against (see README, 'Set-up')"
        )
    return SHARED


CliRun = Callable[..., tuple[int, str, str]]


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str]) -> CliRun:
    """`cli("list", "--format", "json")` runs `vzoo list --format json` in this process and returns
    (exit code as a shell sees it, stdout, stderr) of that command alone."""
    from vzoo.cli.main import run

    def invoke(*args: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()  # drop what earlier steps of the test printed
        try:
            run([str(a) for a in args])
            code = 0
        except SystemExit as e:  # sys.exit(None) is 0 and sys.exit("message") is 1, as in a shell
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke
