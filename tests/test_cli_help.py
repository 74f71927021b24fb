"""The CLI's own flags: `--version`, `-h` as `--help` everywhere, metavars a person can read."""

from __future__ import annotations

import re

import pytest
import typer

from vzoo import __version__
from vzoo.cli.main import app


def _command_paths() -> list[tuple[str, ...]]:
    """Every command of the tree, `()` being `vzoo` itself (groups: cache, registry, results...)."""
    paths: list[tuple[str, ...]] = [()]

    def walk(group: object, prefix: tuple[str, ...]) -> None:
        for name, command in group.commands.items():  # type: ignore[attr-defined]
            paths.append((*prefix, name))
            if hasattr(command, "commands"):
                walk(command, (*prefix, name))

    walk(typer.main.get_command(app), ())
    return paths


COMMANDS = _command_paths()


def test_version(cli) -> None:
    code, out, err = cli("--version")
    assert (code, out, err) == (0, f"vzoo {__version__}\n", "")


def test_the_tree_is_walked() -> None:
    assert {("compare",), ("results", "import"), ("cache", "path"), ("list",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "vzoo")
def test_dash_h_is_help_and_metavars_read_as_words(cli, path: tuple[str, ...]) -> None:
    code, long_help, _ = cli(*path, "--help")
    assert code == 0 and long_help.startswith("Usage: ")
    assert cli(*path, "-h") == (0, long_help, "")
    # typer's type labels of list parameters (`<list[Path]>`, `<list[str]>`) say nothing useful
    assert "list[" not in long_help, long_help
    # arguments print as their names (`ID`, `FILE`), not `{row_id}` / `[ids]`
    usage = long_help.splitlines()[0]
    assert not re.search(r"[{\[][a-z_]+[}\]]", usage), usage


def test_named_metavars(cli) -> None:
    _, out, _ = cli("compare", "-h")
    assert out.splitlines()[0].endswith(" compare [OPTIONS] [ID]...")
    assert "--registry FILE" in out and "--tolerance METRIC=VALUE" in out
    _, out, _ = cli("results", "import", "-h")
    assert out.splitlines()[0].endswith(" results import [OPTIONS] {FILE}...")
