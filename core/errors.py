"""Errors the CLI turns into one line on stderr and an exit code (2: bad input, 1: failure)."""

from __future__ import annotations

import reprlib


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
