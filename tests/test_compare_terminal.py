"""`vzoo compare` on a terminal: a table of what was measured, one line per task for the rest
(with the command that measures it); files and pipes keep the markdown report."""

from __future__ import annotations

import re

import pytest

from vzoo.core.registry import load_registry
from vzoo.core.results import EvalResult, ResultStore

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich's switch: stdout is a terminal
    monkeypatch.setenv("COLUMNS", "120")


@pytest.fixture
def one_measured() -> None:
    ResultStore().record([EvalResult("mlla-t", "top1", 83.4, "%", "vzoo eval mlla-t")])


def _rows(task: str) -> int:
    return len(load_registry().select(task=task))


def test_terminal_shows_what_was_measured_and_how_to_measure_the_rest(
    cli, terminal: None, one_measured: None
) -> None:
    code, out, err = cli("compare")
    assert code == 0, err
    text = ANSI.sub("", out)
    lines = text.splitlines()
    measured = [line.split() for line in lines if line.startswith("mlla-t ")]
    assert measured == [["mlla-t", "top-1", "83.5", "83.4", "reproduced", "-0.10"]]
    assert "mlla-s" not in text and "not-measured" not in text.split("\n", 1)[1]
    n = _rows("classification")  # mlla-t's params and FLOPs are not measured either
    assert (
        f"classification: {n} of {n} rows not measured — top-1: vzoo eval --all --task "
        "classification; params, FLOPs: vzoo flops --all --task classification"
    ) in lines
    n = _rows("detection")
    assert (
        f"detection: {n} of {n} rows not measured — box AP, mask AP: vzoo eval --all --task "
        "detection; params, FLOPs: vzoo flops --all --task detection"
    ) in lines
    assert len(lines) < 25  # the markdown report is ~200 lines


def test_terminal_all_shows_every_metric_and_named_rows_name_the_command(
    cli, terminal: None, one_measured: None
) -> None:
    _, out, _ = cli("compare", "--all")
    text = ANSI.sub("", out)
    assert re.search(r"^mlla-s +top-1 +84\.4 +— +not-measured", text, re.M)
    _, out, _ = cli("compare", "mlla-t", "mlla-s")
    lines = ANSI.sub("", out).splitlines()
    assert (
        "classification: 2 of 2 rows not measured — top-1: vzoo eval mlla-s; "
        "params, FLOPs: vzoo flops mlla-t mlla-s"
    ) in lines


def test_markdown_when_asked_or_not_a_terminal(
    cli, terminal: None, one_measured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, asked, _ = cli("compare", "--report", "markdown")
    assert asked.startswith("# vzoo: published vs measured\n")
    assert "| mlla-s | top-1 | 84.4 | — | — | not-measured |" in asked
    monkeypatch.delenv("TTY_COMPATIBLE")  # a pipe (pytest's capture): markdown, unchanged
    _, piped, _ = cli("compare")
    assert piped == asked


def test_terminal_names_a_known_inconsistency_next_to_its_verdict(cli, terminal: None) -> None:
    """mlla-t's params: the README prints 25M, the released code builds 24.39M (a registry note):
    the terminal table says so beside the verdict, as the markdown report does."""
    ResultStore().record([EvalResult("mlla-t", "params_m", 24.39, "M", "vzoo flops mlla-t")])
    code, out, err = cli("compare", "mlla-t")
    assert code == 0, err
    text = ANSI.sub("", out)
    (row,) = [line for line in text.splitlines() if line.split()[:2] == ["mlla-t", "params"]]
    assert "below (known: note 1)" in row
    assert re.search(r"^1\. mlla-t, params: .*24\.39M", text, re.M), text
