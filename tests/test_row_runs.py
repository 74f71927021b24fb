"""Measuring many rows (`vzoo flops`, `vzoo bench`): one row's failure does not lose the others."""

from __future__ import annotations

import pytest

from vzoo.core.errors import VzooError, measure_rows
from vzoo.core.registry import load_registry


def _measure(row) -> str:
    if row.id == "mlla-s":
        raise RuntimeError("out of luck")
    if row.id == "mlla-b":
        raise VzooError("mlla-b: no such file")  # already names its row: not named twice
    return row.id.upper()


def test_a_failing_row_is_one_line_and_the_others_are_kept() -> None:
    reg = load_registry()
    rows = [reg.get(i) for i in ("mlla-t", "mlla-s", "mlla-b", "msvmamba-nano")]
    started, kept = [], []
    run = measure_rows(rows, _measure, on_row=lambda r: started.append(r.id), on_result=kept.append)
    assert run.results == kept == ["MLLA-T", "MSVMAMBA-NANO"]  # each kept as soon as measured
    assert run.failures == ["mlla-s: RuntimeError: out of luck", "mlla-b: no such file"]
    assert started == [r.id for r in rows]


def test_a_single_row_fails_as_itself() -> None:
    with pytest.raises(RuntimeError, match="out of luck"):
        measure_rows([load_registry().get("mlla-s")], _measure)


def test_a_command_over_rows_ends_with_one_error_naming_the_rows(capsys) -> None:
    """Each failure one line, then one error (exit 1 through the CLI's formatter) naming the rows
    that failed; a lone row's lone failure is the command's error itself, not said twice."""
    from vzoo.cli.selection import end_rows_run

    end_rows_run([], [], 3, "counts")  # nothing failed: nothing said
    with pytest.raises(VzooError, match=r"^2 of 4 counts failed: mlla-s, mlla-b$"):
        end_rows_run(["mlla-s: RuntimeError: out of luck", "mlla-b: no such file"],
                     ["mlla-s", "mlla-b"], 4, "counts")  # fmt: skip
    assert capsys.readouterr().err.splitlines() == [
        "vzoo: failed: mlla-s: RuntimeError: out of luck", "vzoo: failed: mlla-b: no such file",
    ]  # fmt: skip
    with pytest.raises(VzooError, match=r"^mlla-t at 96x96: too small$"):
        end_rows_run(["mlla-t at 96x96: too small"], ["mlla-t"], 1, "timings")
    assert capsys.readouterr().err == ""
