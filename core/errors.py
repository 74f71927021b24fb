"""Errors the CLI turns into one line on stderr and an exit code (2: bad input, 1: failure), and
what becomes of one row's failure when a command measures many rows.

Every command that works row after row (`vzoo download`, `eval`, `flops`, `bench`) follows one
policy, `RowsRun.attempt`: a row's failure becomes one line naming the row and the command goes on
to the next row; at the end `raise_if_failed` ends the command with one error naming the rows that
failed (exit 1, through the CLI's one error formatter). A single row asked for fails as itself (the
CLI prints it as the command's own error); bad input (`UserInputError`) stops the command, since
the rows after it would fail the same way.

`attempt` is a context manager, not a callback: the command's own loop does the work inside it,
so control never climbs from core back up into the room that measures.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class VzooError(Exception):
    """A failure with a message meant for the user (exit code 1)."""

    exit_code = 1


class UserInputError(VzooError):
    """Bad input: an unknown id, a missing file, an invalid option (exit code 2)."""

    exit_code = 2


class StoreError(UserInputError):
    """The results store or the vzoo home cannot be used as it is (unwritable, full, a damaged
    file): the environment needs fixing, not vzoo (exit code 2). Messages name the path."""


class UnknownRowError(UserInputError):
    def __init__(self, row_id: str, suggestions: list[str]) -> None:
        hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown row id '{row_id}'{hint} (see `vzoo list`)")
        self.row_id = row_id
        self.suggestions = suggestions


class RegistryError(UserInputError):
    """The registry file is invalid; `problems` holds one line per problem."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        # The message stays a readable line (`problems` keeps them all, for `registry check`).
        shown = "; ".join(problems[:3])
        more = f"; and {len(problems) - 3} more of the same kind" if len(problems) > 3 else ""
        super().__init__(f"{path}: {len(problems)} problem(s): {shown}{more}")


QUOTE_LIMIT = 80  # characters of a value an error message shows


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value as an error message shows it: repr-quoted, control characters escaped (a row id
    holding terminal escape codes must not reach the terminal raw), at most `limit` characters
    (a YAML alias bomb or a 1 GB string must not be formatted whole)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        # reprlib stops at a few items per level and a few levels: bounded work for any size
        shown = printable(_SHORT_REPR.repr(value))
        return shown[:limit] + ("..." if len(shown) > limit else "")
    text = value if isinstance(value, str) else str(value)
    shown = text[:limit]
    escaped = repr(shown) if isinstance(value, str) else printable(shown)
    return escaped + (f"... ({len(text)} characters)" if len(text) > limit else "")


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlist = _SHORT_REPR.maxtuple = _SHORT_REPR.maxdict = _SHORT_REPR.maxset = 6
_SHORT_REPR.maxlevel = 3
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = QUOTE_LIMIT


def shorten(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` (a name, a key) for a message: control characters escaped, at most `limit`."""
    return printable(text[:limit]) + ("..." if len(text) > limit else "")


def printable(text: str) -> str:
    """`text` with control characters (ESC, CR, BEL, ...) written as escapes, for a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def warn(message: str) -> None:
    """One warning line on stderr: the command goes on."""
    import sys

    print(f"vzoo: warning: {printable(message)}", file=sys.stderr)


# ------------------------------------------------------------------ many rows, one policy
class IdentifiedRow(Protocol):
    """What the policy needs of a row (a registry `Row`): the id its failure line names."""

    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=IdentifiedRow)
T = TypeVar("T")


@dataclass
class RowAttempt(Generic[R]):
    """One row's try: `reason` is set (what went wrong, one line) when it failed."""

    row: R
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.reason is not None


def failure_reason(e: BaseException) -> str:
    """What went wrong, in one line: vzoo's own errors say it themselves; anything else is named
    by its type."""
    return str(e) if isinstance(e, VzooError) else f"{type(e).__name__}: {e}"


@dataclass
class RowsRun(Generic[T]):
    results: list[T] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # one line per row that failed
    failed_rows: list[str] = field(default_factory=list)  # their ids

    @contextmanager
    def attempt(self, row: R, *, alone: bool) -> Iterator[RowAttempt[R]]:
        """Work on one row inside this block. A failure is recorded as one line naming the row
        (`failures`) and swallowed; raised as is when the row is `alone` (the only one asked for)
        or the input is bad."""
        attempt = RowAttempt(row)
        try:
            yield attempt
        except UserInputError:
            raise
        except Exception as e:
            if alone:
                raise
            attempt.reason = failure_reason(e)
            what = attempt.reason
            self.failures.append(what if what.startswith(f"{row.id}:") else f"{row.id}: {what}")
            self.failed_rows.append(row.id)

    def raise_if_failed(self, total: int, what: str) -> None:
        raise_if_failed(self.failed_rows, total, what)


def raise_if_failed(failed_rows: Sequence[str], total: int, what: str) -> None:
    """The end of a many-rows command: "2 of 5 counts failed: a, b" (exit 1) if any row failed."""
    if failed_rows:
        raise VzooError(f"{len(failed_rows)} of {total} {what} failed: {', '.join(failed_rows)}")


def measure_rows(
    rows: Sequence[R],
    measure: Callable[[R], T],
    *,
    on_row: Callable[[R], None] | None = None,
    on_result: Callable[[T], None] | None = None,
) -> RowsRun[T]:
    """`measure` each row in turn under `RowsRun.attempt`; `on_result` sees each result as soon as
    it exists (to record it: an interrupted run keeps what it measured)."""
    run: RowsRun[T] = RowsRun()
    for row in rows:
        if on_row is not None:
            on_row(row)
        with run.attempt(row, alone=len(rows) == 1) as attempt:
            res = measure(row)
        if attempt.failed:
            continue
        run.results.append(res)
        if on_result is not None:
            on_result(res)
    return run
