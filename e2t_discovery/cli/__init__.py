"""The ``e2t`` command line: parses arguments, calls library functions, prints.

Command functions live in the modules of this package, one area each; they only parse
arguments and call a library function of the same name. :func:`main` turns an
:class:`~e2t_discovery.exceptions.E2TError` into one red line and exit code 1, and any
other exception into exit code 2 with the traceback kept in a log file.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import typer
from rich.console import Console

from e2t_discovery.exceptions import E2TError

__all__ = ["app", "main"]

app = typer.Typer(
    name="e2t",
    help="Active-learning materials discovery with an extrapolative (E2T) meta-learner.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err_console = Console(stderr=True)

# Importing the command modules registers their commands on ``app``.
from e2t_discovery.cli import (  # noqa: E402,F401
    loop_cmds,
    model_cmds,
    screen_cmds,
    store_cmds,
)

INTERNAL_LOG = Path.home() / ".cache" / "e2t-discovery" / "internal-errors.log"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; exit 0 on success, 1 on a user error, 2 on an internal error."""
    try:
        app(args=argv, standalone_mode=False)
    except E2TError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        sys.exit(130)
    except Exception as exc:  # an internal error: keep the traceback, show one line
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            err_console.print("[red]aborted[/red]")
            sys.exit(1)
        log = _write_internal_log()
        err_console.print(
            f"[red]internal error:[/red] {type(exc).__name__}: {exc} (traceback in {log})",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)
    sys.exit(0)


def _write_internal_log() -> Path:
    """Append the current traceback to the internal-error log and return its path."""
    INTERNAL_LOG.parent.mkdir(parents=True, exist_ok=True)
    with INTERNAL_LOG.open("a", encoding="utf-8") as fh:
        fh.write(traceback.format_exc())
        fh.write("\n")
    return INTERNAL_LOG
