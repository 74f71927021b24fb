"""The repository root is the `vzoo` package: every subpackage must reach the wheel."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]  # the checkout (CI tests an installed copy of it)
NOT_PACKAGED = ("tests", "examples", "benchmarks")
# What a build or a run leaves in the checkout (`pip install .` copies the package to build/lib).
NOT_SOURCE = ("build", "dist", "work_dirs", "data")


def _packages_on_disk() -> set[str]:
    found = set()
    for init in ROOT.rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        top = rel.parts[0] if rel.parts else ""
        if top in NOT_PACKAGED or top in NOT_SOURCE or top.startswith(".") or "egg-info" in top:
            continue
        found.add(".".join(("vzoo", *rel.parts)))
    return found


def test_pyproject_lists_every_package() -> None:
    """setuptools cannot discover packages under a root that is itself the package (the
    checkout's directory name is arbitrary), so pyproject lists them: a new one must be added."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setup["package-dir"] == {"vzoo": "."}
    assert set(setup["packages"]) == _packages_on_disk()
