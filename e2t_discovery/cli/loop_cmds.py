"""CLI commands of the closed loop: ``e2t run``, ``e2t demo`` and ``e2t report``.

Each command parses its arguments, calls the library function of the same name
(:func:`e2t_discovery.loop.rounds.run_campaign`, :func:`e2t_discovery.loop.demo.run_demo`,
:func:`e2t_discovery.report.write_report`) and prints a compact table.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from e2t_discovery.cli import (
    DirOption,
    LibraryOption,
    RayAddressOption,
    WorkersOption,
    app,
    campaigns_root,
    open_campaign,
    plain_console,
)
from e2t_discovery.exceptions import E2TError

__all__ = ["run", "demo", "report"]

console = plain_console()


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.{digits}f}"


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    rounds: Annotated[int, typer.Option("--rounds", help="Rounds the campaign should have "
                                        "completed in total (a rerun resumes).")] = 1,
    simulate_with: Annotated[Path | None, typer.Option(
        "--simulate-with", help="Labelled CSV/Parquet table that answers each proposal "
        "(retrospective mode); without it the loop stops when proposals await the lab.",
        show_default=False)] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Id column of the table (default: the campaign's id column).",
        show_default=False)] = None,
    value_column: Annotated[str | None, typer.Option(
        "--value-column", help="Value column of the table (default: the target column).",
        show_default=False)] = None,
    library: LibraryOption = None,
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Lab mode: CSV to write the proposals awaiting the lab to (default: "
        "<campaign>/proposals/round-N.csv).", show_default=False)] = None,
    directory: DirOption = None,
) -> None:
    """Run the closed loop (adapt -> screen -> propose -> measure) for N rounds."""
    from e2t_discovery.cli.proposal_cmds import print_proposals
    from e2t_discovery.loop.rounds import RoundResult, run_campaign
    from e2t_discovery.loop.simulate import LabTable

    with open_campaign(name, directory) as campaign:
        cfg = campaign.config
        lab = None
        if simulate_with is not None:
            lab = LabTable.from_path(simulate_with, id_column or cfg.representation.id_column,
                                     value_column or cfg.target.column)
        unit = cfg.target.unit
        header = (f"{'round':>5} {'meas.':>6} {'best ' + unit:>10} {'domain':>6} "
                  f"{'batch RMSE':>10} {'answered':>8}  {'model':12} {'time':>6}  new domains")
        shown: list[int] = []

        def show(result: RoundResult) -> None:
            if not shown:
                console.print(header, highlight=False)
            shown.append(result.round)
            resumed = f"  (resumed after {', '.join(result.resumed)})" if result.resumed else ""
            model = f"v{result.model_version} {result.update}"
            answered = f"{result.n_measured}/{result.n_proposed}"
            console.print(
                f"{result.round:>5} {result.measurements:>6} {_fmt(result.best, 4):>10} "
                f"{result.best_domain:>6} {_fmt(result.batch_rmse, 4):>10} {answered:>8}  "
                f"{model:12} {sum(result.seconds.values()):>5.0f}s  "
                f"{', '.join(result.new_domains) or '-'}{resumed}", highlight=False)
            if result.unanswered:
                console.print(
                    f"round {result.round}: the table could not answer "
                    f"{len(result.unanswered)} of {result.n_proposed} proposed ids, marked "
                    f"dropped: {', '.join(result.unanswered)}", highlight=False)

        outcome = run_campaign(campaign, rounds, simulate_with=lab, library=library,
                               workers=workers, ray_address=ray_address, progress=True,
                               on_round=show, out=out)
        if outcome.waiting_for is not None and outcome.waiting is not None:
            w = outcome.waiting_for
            console.print(f"round {w}: {len(outcome.waiting)} proposals await the lab; "
                          f"wrote {outcome.waiting_file}", highlight=False)
            print_proposals(console, outcome.waiting, unit)
            console.print(f"measure them, ingest the results with `e2t ingest {name} FILE` "
                          f"(a lab file with their ids), then run the same `e2t run` "
                          f"again; or abandon them with `e2t proposals abandon "
                          f"{name} --batch {w}`", highlight=False)
        else:
            console.print(f"campaign {name}: {outcome.completed} rounds complete",
                          highlight=False)


@app.command("demo")
def demo(
    rounds: Annotated[int, typer.Option("--rounds", help="Rounds to run.")] = 10,
    per_class: Annotated[int, typer.Option(
        "--per-class", help="Initial polymers per seed class.")] = 20,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Folder holding PI1070.csv (default: $E2T_DATA_DIR, the user "
        "cache, else the copy embedded in the package).", show_default=False)] = None,
    download: Annotated[bool, typer.Option(
        "--download/--no-download", help="Download PI1070 from the RadonPy repository "
        "into --data-dir if it is not there.")] = True,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue an interrupted demo instead of starting over.")] = False,
    workers: WorkersOption = None,
    directory: DirOption = None,
) -> None:
    """Run a retrospective discovery campaign on PI1070 and write its report."""
    from e2t_discovery.loop.demo import SEED_CLASSES, DemoRow, run_demo

    console.print(f"e2t demo: maximize thermal conductivity of PI1070 polymers, starting "
                  f"from classes {', '.join(SEED_CLASSES)} only (the top-1% lie elsewhere)",
                  highlight=False)
    header = (f"{'round':>5} {'meas.':>6} {'best W/m/K':>10} {'class':>5} "
              f"{'batch RMSE':>10} {'top-1%':>6}  {'model':9} {'time':>6}  new classes")
    console.print(header, highlight=False)
    started = time.perf_counter()

    def show(row: DemoRow) -> None:
        console.print(
            f"{row.round:>5} {row.measurements:>6} {_fmt(row.best):>10} "
            f"{row.best_domain:>5} {_fmt(row.batch_rmse):>10} {row.top_found:>6}  "
            f"{row.update:9} {row.seconds:>5.0f}s  {', '.join(row.new_classes) or '-'}",
            highlight=False)

    result = run_demo(campaigns_root(directory), rounds=rounds, per_class=per_class,
                      data_dir=data_dir, download=download, fresh=not resume,
                      workers=workers, on_round=show)
    first = (f"the first after {result.first_target_after} measurements"
             if result.first_target_after is not None else "none yet")
    console.print(f"found {result.top_found} of the {result.n_targets} top-1% polymers "
                  f"({first}) in {time.perf_counter() - started:.0f} s", highlight=False)
    gain = result.enhancement
    console.print(f"random picks need {result.random_first_expected:.0f} measurements on "
                  f"average to the first top-1% polymer"
                  + (f": {gain:.1f}x random" if gain is not None else ""), highlight=False)
    console.print(f"report: {result.report}", highlight=False)


@app.command("report")
def report(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write index.html and "
                                      "the PNG plots into.")],
    holdout: Annotated[Path | None, typer.Option(
        "--holdout", help="Labelled table: also show predictions on its never-measured "
        "rows in the parity and calibration plots.", show_default=False)] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Id column of the holdout table (default: the campaign's).",
        show_default=False)] = None,
    value_column: Annotated[str | None, typer.Option(
        "--value-column", help="Value column of the holdout table (default: the target).",
        show_default=False)] = None,
    directory: DirOption = None,
) -> None:
    """Write an HTML report: setup, rounds, prediction scores, plots and proposals."""
    from e2t_discovery.loop.holdout import holdout_predictions
    from e2t_discovery.loop.simulate import LabTable
    from e2t_discovery.report import (
        check_out_dir,
        round_summary,
        write_report,
    )

    check_out_dir(out)
    if holdout is not None and not holdout.is_file():
        raise E2TError(f"--holdout table {holdout} does not exist; pass a labelled CSV or "
                       f"Parquet file with the campaign's id and target columns")
    with open_campaign(name, directory, read_only=True) as campaign:
        held = None
        if holdout is not None:
            cfg = campaign.config
            lab = LabTable.from_path(holdout, id_column or cfg.representation.id_column,
                                     value_column or cfg.target.column)
            held = holdout_predictions(campaign, lab.frame, lab.id_column, lab.value_column)
        data = campaign.report_data(holdout=held, holdout_source=holdout)
        if data.measurements.empty:
            raise E2TError(f"campaign {name} has no measurements to report; ingest some first")
        index = write_report(data, out)
    summary = round_summary(data.measurements, data.proposals, data.objective,
                            data.target_range)
    unit = f" ({data.unit})" if data.unit else ""
    table = Table("round", "measurements", f"best{unit}", "domain", f"batch RMSE{unit}")
    for row in summary.itertuples(index=False):
        table.add_row(str(row.round), str(row.measurements), _fmt(row.best, 4),
                      str(row.best_domain), _fmt(row.batch_rmse, 4))
    console.print(table)
    console.print(f"report: {index}", highlight=False)
