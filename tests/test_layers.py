"""The layers hold: import-linter's contracts (pyproject `[tool.importlinter]`) on this checkout.

Bottom first: kernels < core < hub < zoo < (flops | speed | evaluation) < workflows < cli. grimp
reads every import statement, function-level ones included, so a lazy upward import breaks the
contract as surely as a top-level one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]  # the checkout: the `vzoo` package itself
CONTRACTS = ROOT / "pyproject.toml"


def _lint_imports(package_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the checkout's contracts on the package at `package_dir`, found as
    `vzoo` through a private link (the checkout's directory name is arbitrary)."""
    link_dir = tmp_path / "import-root"
    link_dir.mkdir()
    (link_dir / "vzoo").symlink_to(package_dir, target_is_directory=True)
    code = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run(
        [sys.executable, "-c", code, "--no-cache", "--no-logo", str(CONTRACTS)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(link_dir)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_layers_contracts_are_kept(tmp_path: Path) -> None:
    result = _lint_imports(ROOT, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_function_level_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """The contracts are not vacuous: on a package laid out as vzoo, with one lazy import from
    core up into zoo, lint-imports fails and names it."""
    package = tmp_path / "pkg"
    contracts = tomllib.loads(CONTRACTS.read_text())["tool"]["importlinter"]["contracts"]
    modules = {m.strip() for c in contracts for layer in c["layers"] for m in layer.split("|")}
    for module in sorted(modules):
        parts = module.split(".")[1:]
        init = package.joinpath(*parts, "__init__.py")
        init.parent.mkdir(parents=True, exist_ok=True)
        init.touch()
    (package / "__init__.py").touch()
    (package / "core" / "cards.py").write_text(
        "def families():\n    from vzoo.zoo import mlla\n\n    return mlla\n"
    )
    (package / "zoo" / "mlla.py").write_text("from vzoo.core.cards import families\n")
    result = _lint_imports(package, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "vzoo.core.cards -> vzoo.zoo.mlla" in result.stdout
