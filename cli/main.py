"""Entry point: builds the Typer app from the command modules and maps errors to exit codes.

Exit codes: 0 success, 2 bad input, 1 failure. Errors are one line on stderr, never a traceback
(set VZOO_DEBUG=1 to see one).
"""

from __future__ import annotations

import os
import sys

from vzoo import settings
from vzoo.cli import process

# The console script or `python -m vzoo.cli.main` (not an in-process import, e.g. by tests):
# Ctrl-C during the imports below is already one line and exit 130.
_IS_PROGRAM = __name__ == "__main__" or os.path.basename(sys.argv[0]) == "vzoo"
if _IS_PROGRAM:
    process.guard_startup()

import typer  # noqa: E402
from typer.core import TyperArgument, TyperGroup  # noqa: E402


class _NamedArgument(TyperArgument):
    """An argument shown by its metavar alone: typer appends the type (`ID <list[str]>`)."""

    def display_type_rich(self, ctx: typer.Context) -> str | None:
        return None if self.metavar else super().display_type_rich(ctx)


class _Group(TyperGroup):
    """vzoo's command tree: arguments given a metavar print as that metavar."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        _name_arguments(self)


def _name_arguments(group: TyperGroup) -> None:
    for command in group.commands.values():
        if isinstance(command, TyperGroup):  # `vzoo cache ...`, `vzoo results ...`
            _name_arguments(command)
        for param in command.params:
            if type(param) is TyperArgument and param.metavar:
                param.__class__ = _NamedArgument


app = typer.Typer(
    cls=_Group,
    name="vzoo",
    help="Model zoo and benchmark for visual state-space and linear-attention backbones: "
    "published numbers next to measured ones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    # `-h` as well as `--help`, here and (inherited by their contexts) on every command
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from vzoo import __version__

        typer.echo(f"vzoo {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    verbose: bool = typer.Option(
        False, "--verbose", help="Show third-party libraries' warnings and logs too."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        expose_value=False,
        help="Print vzoo's version and exit.",
    ),
) -> None:
    """Options that apply to every command."""
    process.quiet_third_party(verbose)


def _register() -> None:
    # Each module adds its commands to `app`; imports inside commands stay lazy (torch, mmdet).
    from vzoo.cli import (
        bench,
        cache,
        catalog,
        compare,
        data,
        doctor,
        download,
        evaluate,
        flops,
        predict,
        quickstart,
        registry_cmd,
        results,
    )

    for module in (
        quickstart, catalog, compare, registry_cmd, download, cache, evaluate, flops, bench, data,
        results, doctor, predict,
    ):  # fmt: skip
        module.register(app)


_register()


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point (`argv` None: this process is the command)."""
    with process.handling(whole_process=argv is None and _IS_PROGRAM):
        try:
            code = _run(argv)
        except BaseException:
            # whatever an interrupt caused (an error a library made of it, a SystemExit from
            # a child that was stopped) ends as the interrupt
            if process.interrupted():
                process.exit_interrupted()
            raise
        if process.interrupted():  # swallowed on the way (a DataLoader `__del__`)
            process.exit_interrupted()
    sys.exit(code)


def _run(argv: list[str] | None) -> int:
    """Run the command; map its errors to one line and an exit code."""
    import click

    from vzoo.core.errors import VzooError

    try:  # typer >= 0.20 vendors click: its usage errors are not click's own classes
        from typer._click.exceptions import ClickException as TyperClickException
    except ImportError:
        TyperClickException = click.ClickException

    try:
        settings.debug()  # a bad VZOO_DEBUG is bad input, found before the command runs
        code = app(args=argv, standalone_mode=False)
    except BaseException as e:
        if process.interrupted() or isinstance(
            e, (click.exceptions.Abort, typer.Abort, KeyboardInterrupt)
        ):
            process.exit_interrupted()  # also what a library made of the interrupt
        process.command_done()  # it ended on its own: its exit code stands
        if isinstance(e, VzooError):
            _fail(str(e), e.exit_code)
        if isinstance(e, settings.SettingError):
            _fail(str(e), 2)
        if isinstance(e, (click.exceptions.Exit, typer.Exit)):
            return e.exit_code
        if isinstance(e, (click.ClickException, TyperClickException)):
            e.show()
            return e.exit_code
        if not isinstance(e, Exception) or settings.debug():
            raise  # SystemExit; or the traceback was asked for
        # a bug: still one line unless asked for the traceback
        _fail(f"internal error: {type(e).__name__}: {e} (run with VZOO_DEBUG=1 for a traceback)", 1)
    process.command_done()
    return code if isinstance(code, int) else 0


def _fail(message: str, code: int) -> None:
    print(f"vzoo: error: {message}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":  # `python -m vzoo.cli.main` (torchrun / srun re-launch)
    run()
