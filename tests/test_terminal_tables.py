"""Terminal tables fit the terminal (COLUMNS), never breaking a word; `--wide` shows all columns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from vzoo.core.terminal import Column, print_table
from vzoo.hub.cache import CacheEntry, CheckpointCache

CliRun = Callable[..., tuple[int, str, str]]  # the `cli` fixture (conftest)


def table_part(out: str) -> str:
    """The output without the trailing '(N more columns with --wide: ...)' note."""
    lines = out.splitlines()
    cut = next((i for i, x in enumerate(lines) if x.startswith("(") and "--wide" in x), None)
    return "\n".join(lines[:cut])


def words(text: str) -> set[str]:
    return {w for w in text.split() if w.strip("─")}  # the header rule is not a word


def assert_fits(narrow: str, wide: str, width: int) -> None:
    """No line over `width`; every word of the narrow table is a whole word of the wide one."""
    too_long = [x for x in narrow.splitlines() if len(x) > width]
    assert not too_long, too_long
    broken = words(table_part(narrow)) - words(wide)
    assert not broken, f"words cut across lines: {sorted(broken)}"


def run_at(monkeypatch: pytest.MonkeyPatch, cli: CliRun, width: int, *args: str) -> str:
    """stdout of `vzoo ARGS` in a terminal `width` columns wide (the command must succeed)."""
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = cli(*args)
    assert code == 0, err
    return out


@pytest.mark.parametrize("width", [80, 60])
def test_list_fits(width: int, monkeypatch: pytest.MonkeyPatch, cli: CliRun) -> None:
    wide = run_at(monkeypatch, cli, 1000, "list")
    narrow = run_at(monkeypatch, cli, width, "list")
    assert_fits(narrow, wide, width)
    assert "spatial-mamba-t-upernet-160k" in narrow  # ids are never cut
    assert "more columns with --wide" in narrow
    every = run_at(monkeypatch, cli, width, "list", "--wide")
    for header in ("id", "family", "task", "method", "schedule", "published"):
        assert header in every.splitlines()[1].split()
    assert words(table_part(every)) == words(wide)


@pytest.fixture(scope="module")
def counted() -> dict[tuple[str, Any], Any]:
    return {}


def test_flops_fits(
    monkeypatch: pytest.MonkeyPatch,
    cli: CliRun,
    counted: dict[tuple[str, Any], Any],
) -> None:
    """The issue's `COLUMNS=80 vzoo flops mlla-t --no-store` (counted once, shown four times)."""
    import vzoo.flops.run

    real = vzoo.flops.run.count_row

    def count_once(row: Any, shape: Any, **kwargs: Any) -> Any:
        if (row.id, shape) not in counted:
            counted[row.id, shape] = real(row, shape, **kwargs)
        return counted[row.id, shape]

    monkeypatch.setattr(vzoo.flops.run, "count_row", count_once)
    args = ("flops", "mlla-t", "--no-store")
    wide = run_at(monkeypatch, cli, 1000, *args)
    assert "fvcore-all" in wide.split()  # what 80 columns used to cut into fvco / re-a / ll
    for width in (80, 60):
        narrow = run_at(monkeypatch, cli, width, *args)
        assert_fits(narrow, wide, width)
        assert "mlla-t" in narrow.split() and "FLOPs" in narrow
    every = run_at(monkeypatch, cli, 60, *args, "--wide")
    assert "--wide" not in every and words(every) == words(wide)
    assert len(counted) == 1


@pytest.mark.parametrize("width", [80, 60])
def test_cache_list_fits(width: int, monkeypatch: pytest.MonkeyPatch, cli: CliRun) -> None:
    cache = CheckpointCache()
    for i, row in enumerate(("spatial-mamba-t-upernet-160k", "mlla-t")):
        sha = f"{i}" * 64
        cache.blob_path(sha).parent.mkdir(parents=True, exist_ok=True)
        cache.blob_path(sha).write_bytes(b"x" * 10)
        name = "upernet_spatialmamba_tiny_160k_ade20k_512x512_checkpoint.pth"
        cache.record(CacheEntry(row, sha, 10, "https://x/y", name, "original", "t", i == 0))
    wide = run_at(monkeypatch, cli, 1000, "cache", "list")
    narrow = run_at(monkeypatch, cli, width, "cache", "list")
    assert_fits(narrow, wide, width)
    assert "spatial-mamba-t-upernet-160k" in narrow and "0" * 12 in narrow


def test_columns_go_least_important_first(capsys: pytest.CaptureFixture[str]) -> None:
    columns = [Column("id", 0, no_wrap=True), Column("extra", 2), Column("value", 1)]
    rows = [["a-long-row-identifier", "verbose-extra-information", "3.14"]]
    import os

    os.environ["COLUMNS"] = "40"
    try:
        print_table(columns, rows)
    finally:
        del os.environ["COLUMNS"]
    out = capsys.readouterr().out
    assert "value" in out and "3.14" in out and "verbose" not in out
    assert "(1 more column with --wide: extra)" in out


@pytest.mark.parametrize("width", [80, 60])
def test_results_list_fits(width: int, monkeypatch: pytest.MonkeyPatch, cli: CliRun) -> None:
    from vzoo.core.results import EvalResult, ResultStore

    ResultStore().record(
        [
            EvalResult("spatial-mamba-t-upernet-160k", "miou_ss", 47.6, "%", "t", convention="ss"),
            EvalResult("msvmamba-micro-1x", "box_ap", 1.25, "AP", "t", convention="random-init"),
        ]
    )
    wide = run_at(monkeypatch, cli, 1000, "results", "list")
    narrow = run_at(monkeypatch, cli, width, "results", "list")
    assert_fits(narrow, wide, width)
    assert "spatial-mamba-t-upernet-160k" in narrow
    # however narrow, a random-init record says so in its value (the convention column goes)
    assert "1.250 AP random-init" in " ".join(narrow.split()) and "47.600 %" in narrow, narrow


@pytest.mark.parametrize("width", [80, 60])
def test_show_wraps_long_values_at_spaces(
    width: int, monkeypatch: pytest.MonkeyPatch, cli: CliRun
) -> None:
    wide = run_at(monkeypatch, cli, 1000, "show", "mlla-t")
    narrow = run_at(monkeypatch, cli, width, "show", "mlla-t")
    assert max(len(x) for x in wide.splitlines()) > 200  # the notes are long lines
    for line in narrow.splitlines():  # over the width only a URL / path alone on its line
        assert len(line) <= width or len(line.split()) <= 2, line
    assert narrow.split() == wide.split()  # the same words, in order, none cut
