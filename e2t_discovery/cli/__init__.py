"""The ``e2t`` command line: parses arguments, calls library functions, prints.

Command functions live in the modules of this package, one area each; they only parse
arguments and call a library function of the same name. :func:`main` turns an
:class:`~e2t_discovery.exceptions.E2TError` into one red line and exit code 1, a usage
error into click's usage line and exit code 2, and any other exception into exit code 3
with the traceback kept in a log file: the campaign's
``logs/e2t.log`` when the command opened a campaign through :func:`open_campaign` /
:func:`create_campaign` (or called :func:`remember_campaign`), else the user-level log.

Helpers for command modules: ``campaigns_root(directory)`` (``--dir``, else ``E2T_HOME``,
else ``./e2t-campaigns``), ``open_campaign(name, directory, read_only=False)``,
``create_campaign(name, config, directory)``, ``remember_campaign(campaign)``, ``DirOption``.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from e2t_discovery.exceptions import E2TError

if TYPE_CHECKING:
    from e2t_discovery.loop.campaign import Campaign

__all__ = ["app", "main", "campaigns_root", "open_campaign", "create_campaign",
           "remember_campaign", "plain_console", "DirOption", "LibraryOption", "WorkersOption",
           "RayAddressOption", "ChunkSizeOption", "WorkflowGroup"]

#: ``e2t --help`` lists commands in the order a campaign uses them; others follow.
WORKFLOW = ("templates", "init", "ingest", "status", "train", "predict", "library", "screen",
            "propose", "proposals", "run", "report", "export", "list", "demo")


def _plain_flags(command: Any, ctx: Any) -> None:
    """Flags show no ``<bool>`` type in help (Typer prints one for every flag)."""
    for param in [*command.params, command.get_help_option(ctx)]:
        if (getattr(param, "param_type_name", "") == "option" and param.is_flag
                and param.metavar is None):
            param.metavar = ""


class WorkflowGroup(TyperGroup):
    """Typer's group with commands in :data:`WORKFLOW` order and no ``<bool>`` on flags."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(WORKFLOW)}
        return sorted(names, key=lambda n: (rank.get(n, len(WORKFLOW)), names.index(n)))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _plain_flags(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _plain_flags(self, ctx)
        super().format_help(ctx, formatter)


app = typer.Typer(
    name="e2t",
    help="Active-learning materials discovery with an extrapolative (E2T) meta-learner.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=WorkflowGroup,
)

err_console = Console(stderr=True)


def plain_console() -> Console:
    """The console of command output: no markup, so user and config text prints as is
    (units such as ``[eV]`` and hints such as ``[target.conversions]`` stay), and long
    paths stay on one line."""
    return Console(soft_wrap=True, markup=False)

#: Exit codes of ``e2t`` (README "Exit codes").
EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _show_version(value: bool) -> None:
    if value:
        from e2t_discovery import __version__

        typer.echo(f"e2t-discovery {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Active-learning materials discovery with an extrapolative (E2T) meta-learner."""

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Folder holding campaigns (default: $E2T_HOME, else "
                               "./e2t-campaigns).", show_default=False),
]

#: Options shared by several commands: one declaration, one help text each.
LibraryOption = Annotated[
    Path | None,
    typer.Option("--library", help="Candidate library: a folder of Parquet shards, a "
                 ".parquet or a .csv file (default: the campaign file's [library] path).",
                 show_default=False),
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", help="Scoring workers (default: every CPU of the local Ray or "
                 "cluster; a library of up to 30,000 rows is scored in process).",
                 show_default=False),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option("--ray-address", envvar="RAY_ADDRESS", help="Ray cluster to score on "
                 "('auto' or host:port; default: a local Ray, started only if needed).",
                 show_default=False),
]
ChunkSizeOption = Annotated[
    int,
    typer.Option("--chunk-size", min=1, help="Library rows per chunk sent to a worker "
                 "(bounds memory; not the number of proposals)."),
]

#: Log file of the campaign the running command works on (set by the helpers below).
_campaign_log: Path | None = None


def campaigns_root(directory: Path | None) -> Path:
    """Return the campaigns folder: ``--dir``, else ``$E2T_HOME``, else ``./e2t-campaigns``."""
    if directory is not None:
        return directory
    return Path(os.environ.get("E2T_HOME") or "e2t-campaigns")


def remember_campaign(campaign: Campaign) -> None:
    """Send the traceback of an internal error of this command to the campaign's log."""
    global _campaign_log
    _campaign_log = campaign.log_path


def open_campaign(name: str, directory: Path | None, read_only: bool = False) -> Campaign:
    """Open campaign ``name`` under :func:`campaigns_root` and remember its log file."""
    from e2t_discovery.loop.campaign import Campaign

    campaign = Campaign.open(name, root=campaigns_root(directory), read_only=read_only)
    remember_campaign(campaign)
    return campaign


def create_campaign(name: str, config: Path, directory: Path | None) -> Campaign:
    """Create campaign ``name`` under :func:`campaigns_root` and remember its log file."""
    from e2t_discovery.loop.campaign import Campaign

    campaign = Campaign.create(name, config, root=campaigns_root(directory))
    remember_campaign(campaign)
    return campaign


# Importing the command modules registers their commands on ``app``.
from e2t_discovery.cli import (  # noqa: E402,F401
    loop_cmds,
    model_cmds,
    proposal_cmds,
    screen_cmds,
    store_cmds,
    template_cmds,
)

INTERNAL_LOG = Path.home() / ".cache" / "e2t-discovery" / "internal-errors.log"


def _click_classes(name: str) -> tuple[type[BaseException], ...]:
    """``click.exceptions.<name>`` and Typer's vendored copy of it (Typer >= 0.20)."""
    import importlib

    import click

    found: list[type[BaseException]] = [getattr(click.exceptions, name)]
    try:
        vendored = importlib.import_module("typer._click.exceptions")
    except ImportError:
        return tuple(found)
    if hasattr(vendored, name):
        found.append(getattr(vendored, name))
    return tuple(found)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with one of the codes above.

    0 success; 1 a user error (bad input, with one line saying what and how to fix it);
    2 a usage error (unknown command or option, missing argument: usage line and problem);
    3 an internal error (one line; traceback in the log); 130 interrupted (Ctrl-C).
    """
    global _campaign_log
    _campaign_log = None
    code = EXIT_OK
    try:
        result = app(args=argv, standalone_mode=False, prog_name="e2t")
        # click returns the exit code of ctx.exit()/typer.Exit (e.g. 0 after --help).
        code = result if isinstance(result, int) else EXIT_OK
    except E2TError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False,
                          soft_wrap=True)
        sys.exit(EXIT_USER_ERROR)
    except SystemExit:
        raise
    except (KeyboardInterrupt,) + _click_classes("Abort"):
        err_console.print("[red]interrupted[/red]; run the same command again to resume")
        sys.exit(EXIT_INTERRUPTED)
    except _click_classes("ClickException") as exc:
        exc.show()  # type: ignore[attr-defined]  # usage line, then the problem
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE))
    except Exception as exc:  # an internal error: keep the traceback, show one line
        log = _write_internal_log()
        err_console.print(
            f"[red]internal error:[/red] {escape(f'{type(exc).__name__}: {exc}')} "
            f"(traceback in {escape(str(log))})",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(code)


def _write_internal_log() -> Path:
    """Append the current traceback to the campaign's (else the user-level) log; return it."""
    import datetime

    log = _campaign_log or INTERNAL_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"--- {stamp} internal error in: e2t {' '.join(sys.argv[1:])}\n")
        fh.write(traceback.format_exc())
        fh.write("\n")
    return log
