"""CLI commands for pending proposals: ``e2t proposals list|abandon|fail``.

Also home of :func:`print_proposals`, the one way a batch is shown on the terminal
(``e2t propose``, ``e2t run`` in lab mode, ``e2t proposals list``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from e2t_discovery.cli import DirOption, WorkflowGroup, app, open_campaign, plain_console

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["proposals_app", "print_proposals", "list_proposals", "abandon", "fail"]

console = plain_console()
proposals_app = typer.Typer(
    help="List pending proposals; abandon them or mark them failed.", no_args_is_help=True,
    cls=WorkflowGroup)
app.add_typer(proposals_app, name="proposals")

#: Columns of a batch that carry the target's unit.
_UNIT_COLUMNS = ("mean", "std", "ucb", "lcb", "thompson_draw")
#: Columns of the file left out on the terminal (the structure can be very long).
_HIDDEN = ("structure",)
_HEADERS = {"domain_distance": "distance", "status_note": "note"}

IdsArg = Annotated[list[str] | None, typer.Argument(
    help="Material ids (the `id` column of the proposal file).", show_default=False)]
BatchOption = Annotated[int | None, typer.Option(
    "--batch", help="Every pending proposal of this batch (its round number, as "
    "`e2t proposals list` shows).", show_default=False)]
AllOption = Annotated[bool, typer.Option("--all", help="Every pending proposal.")]
NoteOption = Annotated[str | None, typer.Option(
    "--note", help="Why (kept with each proposal and in the event log).", show_default=False)]


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_proposals(out: Console, frame: pd.DataFrame, unit: str) -> None:
    """Print a batch (as :func:`e2t_discovery.loop.propose.lab_frame` gives it) as a table.

    Every column of the file but the structure, in its order; numbers to 4 significant
    digits; the unit in the header of columns that carry it.
    """
    cols = [c for c in frame.columns if c not in _HIDDEN]
    heads = [_HEADERS.get(c, c) + (f" {unit}" if c in _UNIT_COLUMNS and unit else "")
             for c in cols]
    cells = [[_cell(v) for v in frame[c].tolist()] for c in cols]
    from pandas.api.types import is_numeric_dtype

    numeric = [is_numeric_dtype(frame[c]) for c in cols]
    widths = [max([len(h), *map(len, col)]) for h, col in zip(heads, cells, strict=True)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w)
                 for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out.print(line(heads), highlight=False)
    for i in range(len(frame)):
        out.print(line([col[i] for col in cells]), highlight=False)


@proposals_app.command("list")
def list_proposals(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    status: Annotated[str, typer.Option(
        "--status", help="proposed (pending), measured, dropped, abandoned, failed or all.")]
    = "proposed",
    batch: Annotated[int | None, typer.Option(
        "--batch", help="Only this batch (round).", show_default=False)] = None,
    directory: DirOption = None,
) -> None:
    """Show proposals by batch: the pending ones, or those of another status."""
    from e2t_discovery.loop.propose import lab_frame
    from e2t_discovery.store import PROPOSAL_STATUSES

    if status != "all" and status not in PROPOSAL_STATUSES:
        raise typer.BadParameter(f"{status!r} is not one of {', '.join(PROPOSAL_STATUSES)}, "
                                 f"all", param_hint="--status")
    with open_campaign(name, directory, read_only=True) as campaign:
        every = campaign.store.proposals()
        unit = campaign.config.target.unit
    if batch is not None:
        every = every[every["round"] == batch]
    wanted = every if status == "all" else every[every["status"] == status]
    what = "proposals" if status == "all" else f"{status} proposals"
    if status == "proposed":
        what = "pending proposals"
    if wanted.empty:
        where = f" in batch {batch}" if batch is not None else ""
        console.print(f"campaign {name} has no {what}{where}", highlight=False)
        return
    for r in sorted(wanted["round"].unique()):
        rows = every[every["round"] == r]
        counts = ", ".join(f"{n} {s}" for s, n in rows["status"].value_counts().items())
        model = rows["model_version"].dropna()
        at = f", model v{int(model.iloc[0])}" if len(model) else ""
        console.print(f"batch {int(r)} ({', '.join(sorted(set(rows['strategy'])))}{at}): "
                      f"{counts}", highlight=False)
        shown = lab_frame(rows, status=None if status == "all" else status,
                          with_status=status != "proposed")
        print_proposals(console, shown, unit)


def _close(name: str, status: str, ids: list[str] | None, batch: int | None,
           all_pending: bool, note: str | None, directory: DirOption) -> None:
    from e2t_discovery.loop.proposals import close_proposals, pending_batches, pending_summary

    given = sum([bool(ids), batch is not None, all_pending])
    if given != 1:
        raise typer.BadParameter("give material ids, --batch N or --all (exactly one)",
                                 param_hint="IDS / --batch / --all")
    with open_campaign(name, directory) as campaign:
        closed = close_proposals(campaign.store, name, status, ids=ids or (), batch=batch,
                                 all_pending=all_pending, note=note)
        left = pending_batches(campaign.store)
    n = len(closed)
    per = ", ".join(f"batch {int(r)}: {k}" for r, k in
                    closed.groupby("round").size().items())
    noun = "proposal" if n == 1 else "proposals"
    pronoun = "it" if n == 1 else "they"
    then = (f"{pronoun} may be proposed again" if status == "abandoned"
            else f"{pronoun} will not be proposed again")
    console.print(f"{'abandoned' if status == 'abandoned' else 'marked failed'} {n} {noun} "
                  f"of campaign {name} ({per}); {then}", highlight=False)
    console.print(f"{pending_summary(left)} left" if len(left) else
                  "no proposals are pending now", highlight=False)


@proposals_app.command("abandon")
def abandon(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    ids: IdsArg = None,
    batch: BatchOption = None,
    all_pending: AllOption = False,
    note: NoteOption = None,
    directory: DirOption = None,
) -> None:
    """Abandon pending proposals: the lab will not measure them (they may be proposed again)."""
    _close(name, "abandoned", ids, batch, all_pending, note, directory)


@proposals_app.command("fail")
def fail(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    ids: IdsArg = None,
    batch: BatchOption = None,
    all_pending: AllOption = False,
    note: NoteOption = None,
    directory: DirOption = None,
) -> None:
    """Mark pending proposals failed: the lab could not measure them (never proposed again)."""
    _close(name, "failed", ids, batch, all_pending, note, directory)
