"""`vzoo doctor`: versions, compiled ops, scan backend, datasets, cache, store, hosts."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

if TYPE_CHECKING:
    from vzoo.workflows.doctor import Check


class DoctorFormat(str, Enum):
    text = "text"
    json = "json"


LABELS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skipped": "skip"}


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    offline: bool = typer.Option(
        False, "--offline", help="Do not contact the weights hosts (also VZOO_OFFLINE=1)."
    ),
    data_root: Optional[Path] = typer.Option(
        None, "--data-root", help="Look for the datasets here, as `vzoo eval --data-root`."
    ),
    timeout: float = typer.Option(3.0, "--timeout", help="Seconds to wait for each host."),
    fmt: DoctorFormat = typer.Option(DoctorFormat.text, "--format", help="Output format."),
) -> None:
    """Check this machine can run `vzoo eval`; exit 1 with one fix per problem if not."""
    from vzoo.hub.fetch import offline_from_env
    from vzoo.workflows.doctor import DoctorOptions, ready, run_checks

    options = DoctorOptions(
        offline=offline or offline_from_env(), data_root=data_root, host_timeout=timeout
    )
    checks = run_checks(options)
    ok = ready(checks)
    if fmt is DoctorFormat.json:
        typer.echo(json.dumps({"ready": ok, "checks": [c.to_json() for c in checks]}, indent=2))
    else:
        _print_text(checks, ok)
    if not ok:
        raise typer.Exit(1)


def _print_text(checks: list[Check], ok: bool) -> None:
    import shutil
    import textwrap

    width = shutil.get_terminal_size().columns  # COLUMNS when set
    indent = " " * 6

    def say(text: str, first: str, rest: str = indent) -> None:
        # paths and URLs are never split: a line only breaks at spaces
        wrapped = textwrap.wrap(
            text, width=max(width, 40), initial_indent=first, subsequent_indent=rest,
            break_long_words=False, break_on_hyphens=False,
        )  # fmt: skip
        for line in wrapped:
            typer.echo(line)

    for c in checks:
        say(f"{c.name}: {c.detail}", f"{LABELS.get(c.status, c.status):<6}")
        if c.fix and c.status in ("fail", "warn"):
            say(f"fix: {c.fix}", indent)
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    if ok:
        typer.echo(f"ready for vzoo eval ({warned} warning(s))")
    else:
        typer.echo(f"NOT ready for vzoo eval: {failed} problem(s), each with its fix above")
