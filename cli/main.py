"""Entry point: builds the Typer app from the command modules and maps errors to exit codes.

Exit codes: 0 success, 2 bad input, 1 failure. Errors are one line on stderr, never a traceback
(set VZOO_DEBUG=1 to see one).
"""

from __future__ import annotations

import os
import sys

import typer

app = typer.Typer(
    name="vzoo",
    help="Model zoo and benchmark for visual state-space and linear-attention backbones: "
    "published numbers next to measured ones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _global_options(
    verbose: bool = typer.Option(
        False, "--verbose", help="Show third-party libraries' warnings and logs too."
    ),
) -> None:
    """Options that apply to every command."""
    from vzoo.core.noise import quiet_third_party

    quiet_third_party(verbose)


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
    """Console-script entry point."""
    import click

    from vzoo.core.errors import VzooError

    try:  # typer >= 0.20 vendors click: its usage errors are not click's own classes
        from typer._click.exceptions import ClickException as TyperClickException
    except ImportError:
        TyperClickException = click.ClickException

    try:
        code = app(args=argv, standalone_mode=False)
    except VzooError as e:
        _fail(str(e), e.exit_code)
    except (click.exceptions.Exit, typer.Exit) as e:
        sys.exit(e.exit_code)
    except (click.ClickException, TyperClickException) as e:
        e.show()
        sys.exit(e.exit_code)
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        _fail("interrupted", 130)
    except Exception as e:  # a bug: still one line unless asked for the traceback
        if os.environ.get("VZOO_DEBUG"):
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (run with VZOO_DEBUG=1 for a traceback)", 1)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    print(f"vzoo: error: {message}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":  # `python -m vzoo.cli.main` (torchrun / srun re-launch)
    run()
