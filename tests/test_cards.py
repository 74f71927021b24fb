"""Family cards: one module per family declares what vzoo needs; nothing else names a family."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from vzoo.core import cards
from vzoo.core.registry import default_registry_path, load_registry, methods
from vzoo.core.tasks import generic_methods
from vzoo.zoo import list_archs

ROOT = Path(cards.__file__).resolve().parents[1]  # the package (= repository) root
# Where a family may be named: its own module and configs, the rows, tests, reports, docs, and the
# benchmark scripts that produce a family's reports.
ALLOWED_DIRS = ("tests/", "reports/", "benchmarks/", "examples/", "zoo/configs/")
ALLOWED_FILES: tuple[str, ...] = ()


@pytest.mark.parametrize("module", sorted(cards.builtin_module_paths()))
def test_the_static_card_is_the_imported_modules_card(module: str) -> None:
    """Cards are read without importing torch; the reading must equal what the module builds."""
    static = cards._static_card(cards.builtin_module_paths()[module])
    assert static is not None and static == importlib.import_module(module).CARD
    assert static.module == module


def test_every_row_and_arch_has_its_card() -> None:
    reg = load_registry(default_registry_path())
    assert {r.family for r in reg} == set(cards.family_names())
    for row in reg:
        card = cards.find_card(row.family)
        assert row.method in methods(), row.id
        if row.task == "classification":
            assert row.arch in card.archs and cards.card_for_arch(row.arch) is card, row.id
    assert list_archs() == sorted(a for c in cards.all_cards() for a in c.archs)
    # the methods a family brings are declared by its card, mmdet's own by the registry
    assert set(methods()) == set(generic_methods()) | set(cards.card_methods())


def test_unknown_arch_suggests_close_ones() -> None:
    from vzoo.core.errors import UserInputError

    some = list_archs()[0]
    with pytest.raises(UserInputError, match=f"did you mean: {some}"):
        cards.card_for_arch(some + "x")


def _docstring_ids(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _code_words(tree: ast.AST) -> list[tuple[int, str]]:
    """Identifiers, imported names and string constants (not docstrings, not comments)."""
    docs = _docstring_ids(tree)
    words = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docs:
                words.append((node.lineno, node.value))
        elif isinstance(node, ast.Name):
            words.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            words.append((node.lineno, node.attr))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            words.append((node.lineno, node.name))
        elif isinstance(node, ast.Import):
            words += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            words += [(node.lineno, node.module or "")] + [
                (node.lineno, a.name) for a in node.names
            ]
    return words


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def test_no_family_is_named_outside_its_module() -> None:
    """The grep of issue 15: a family's name (its id, its module's name, its label) appears in
    code nowhere but in its own module, its configs, registry.yaml, tests and reports."""
    own = {card.module.rsplit(".", 1)[-1]: card for card in cards.all_cards()}
    generic = {_squash(m) for m in generic_methods()}  # "sparse-rcnn" is also mmdet's method
    needles = {
        card.name: {_squash(w) for w in (card.name, card.module.rsplit(".", 1)[-1], card.label)}
        - generic
        for card in cards.all_cards()
    }
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(ALLOWED_DIRS) or rel in ALLOWED_FILES or "/." in f"/{rel}":
            continue
        here = own.get(path.stem) if rel.startswith("zoo/") else None
        for line, word in _code_words(ast.parse(path.read_text(encoding="utf-8"))):
            squashed = _squash(word)
            for family, words in needles.items():
                if (here is None or here.name != family) and any(w in squashed for w in words):
                    found.append(f"{rel}:{line}: {family}: {word[:70]!r}")
    assert not found, "\n".join(found)


def test_the_grep_finds_a_family_named_elsewhere(tmp_path: Path, monkeypatch) -> None:
    """The check above can fail: a module naming a family is caught."""
    words = [w for _, w in _code_words(ast.parse('PRE = {"mlla": 1}\nfrom vzoo.zoo import mlla'))]
    assert any("mlla" in _squash(w) for w in words)


def test_each_card_declares_the_sizes_its_archs_name_in_order() -> None:
    """The one size vocabulary: what reports read off an arch id is what its card declares."""
    from vzoo.core.report import arch_parts

    for card in cards.all_cards():
        assert [arch_parts(card.name, a)[1] for a in card.archs] == list(card.sizes), card.name
