"""Every public class and function of zoo/ and hub/ says what it is for: a docstring on each
module-level class and function whose name does not start with "_", and on each public method of
those classes (AST, so nothing is imported). Configs are mmengine data, not code."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("zoo", "hub")
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _public_defs(body: list[ast.stmt], prefix: str = "") -> list[tuple[str, ast.AST]]:
    found: list[tuple[str, ast.AST]] = []
    for node in body:
        if isinstance(node, _DEFS) and not node.name.startswith("_"):
            found.append((prefix + node.name, node))
            if isinstance(node, ast.ClassDef):
                found += _public_defs(node.body, f"{prefix}{node.name}.")
    return found


def undocumented(folder: Path) -> tuple[int, list[str]]:
    """(how many public definitions, `path:line name` of those without a docstring)."""
    total, missing = 0, []
    for path in sorted(folder.rglob("*.py")):
        if "configs" in path.relative_to(folder).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for name, node in _public_defs(tree.body):
            total += 1
            if ast.get_docstring(node) is None:  # type: ignore[arg-type]
                where = path.relative_to(folder.parent)
                missing.append(f"{where}:{node.lineno} {name}")  # type: ignore[attr-defined]
    return total, missing


def test_every_public_definition_of_zoo_and_hub_has_a_docstring() -> None:
    for folder in FOLDERS:
        total, missing = undocumented(ROOT / folder)
        assert total > 100, folder  # the walk found the code
        assert missing == [], f"{len(missing)} of {total} public definitions lack a docstring"


def test_the_count_sees_a_missing_docstring(tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "mod.py").write_text(
        "def _private(): pass\n"
        'def documented():\n    """Says what."""\n'
        "class Bare:\n    def method(self): pass\n    def _hidden(self): pass\n",
        encoding="utf-8",
    )
    assert undocumented(folder) == (3, ["pkg/mod.py:4 Bare", "pkg/mod.py:5 Bare.method"])
