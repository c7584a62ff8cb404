"""CLI commands of the campaign store: ``e2t init``, ``e2t ingest``, ``e2t status``, ``e2t export``.

Each command parses its arguments, calls the :class:`~e2t_discovery.loop.campaign.Campaign`
method of the same name and prints a short summary with rich.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from e2t_discovery.cli import (
    DirOption,
    app,
    campaigns_root,
    create_campaign,
    open_campaign,
    plain_console,
)
from e2t_discovery.cli.template_cmds import campaign_file
from e2t_discovery.config.schema import load_config

__all__ = ["init", "ingest", "status", "export", "list_campaigns"]

console = plain_console()

NameArg = Annotated[str, typer.Argument(help="Campaign name (a folder under --dir).",
                                        show_default=False)]


def _check_only(path: Path | None) -> None:
    """``e2t init --check FILE``: validate the file (every key), print "FILE: ok", stop."""
    if path is None:
        return
    load_config(path)
    console.print(f"{path}: ok", highlight=False)
    raise typer.Exit()


@app.command()
def init(
    name: NameArg,
    config: Annotated[Path | None, typer.Option(
        "--config", help="Campaign TOML file (or --template).", show_default=False)] = None,
    template: Annotated[str | None, typer.Option(
        "--template", help="A shipped campaign file by name (`e2t templates` lists them).",
        show_default=False)] = None,
    directory: DirOption = None,
    check: Annotated[Path | None, typer.Option(
        "--check", callback=_check_only, is_eager=True, show_default=False,
        help="Only check this campaign file (every key, against the featurizer, model "
             "and strategy it names), print 'FILE: ok' and create nothing; NAME and "
             "--config are then not needed.")] = None,
) -> None:
    """Create a campaign from a TOML file or a shipped template (every key checked first)."""
    with create_campaign(name, campaign_file(config, template), directory) as campaign:
        cfg = campaign.config
        console.print(f"created campaign {name} in {campaign.dir} "
                      f"({cfg.representation.kind}, {cfg.objective.direction} "
                      f"{cfg.target.property} [{cfg.target.unit}])", highlight=False)
        source = campaign.store.transfer_source()
        if source is not None:
            console.print(f"transfer source: {source.describe()}", highlight=False)


@app.command()
def ingest(
    name: NameArg,
    file: Annotated[Path, typer.Argument(help="Lab results: CSV (comma, semicolon or tab "
                                         "separated), Excel .xlsx (first sheet) or Parquet.",
                                         show_default=False)],
    replicate: Annotated[bool, typer.Option(
        "--replicate", help="Keep a new value of an already measured material next to the "
                            "old one instead of refusing it.")] = False,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Write every problem found to this file.",
        show_default=False)] = None,
    round: Annotated[int | None, typer.Option(
        "--round", help="Round to file the measurements under (default: the current one).",
        show_default=False)] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="The file's column holding the ids (default: the campaign's "
                            "id_column).", show_default=False)] = None,
    value_column: Annotated[str | None, typer.Option(
        "--value-column", help="The file's column holding the measured values (default: "
                               "the campaign's target column).", show_default=False)] = None,
    unit: Annotated[str | None, typer.Option(
        "--unit", help="Unit of every value, for a file without a unit column (converted "
                       "like a unit column's).", show_default=False)] = None,
    mapping: Annotated[list[str] | None, typer.Option(
        "--map", help="Rename a file column: OLD=NEW (repeatable), e.g. --map "
                      "'Class=polymer_class'.", show_default=False)] = None,
    directory: DirOption = None,
) -> None:
    """Validate a lab-results file and load it all-or-nothing (re-ingesting is a no-op)."""
    column_map = _parse_map(mapping or [])
    with open_campaign(name, directory) as campaign:
        result = campaign.ingest(file, replicate=replicate, report_path=report, round=round,
                                 progress=True, id_column=id_column, value_column=value_column,
                                 unit=unit, column_map=column_map)
    if result.already_ingested:
        console.print(f"{file}: already ingested (same SHA-256); nothing to do",
                      highlight=False)
        return
    extra = []
    if result.skipped_identical:
        extra.append(f"{result.skipped_identical} identical values already stored")
    if result.replicates:
        extra.append(f"{result.replicates} replicates")
    if result.proposals_measured:
        extra.append(f"{result.proposals_measured} proposals answered")
    tail = f" ({'; '.join(extra)})" if extra else ""
    console.print(f"ingested {result.measurements} measurements of {result.n_rows} rows "
                  f"({result.new_materials} new materials) into {name}, round "
                  f"{result.round}{tail}", highlight=False)


def _parse_map(items: list[str]) -> dict[str, str]:
    """Parse ``--map OLD=NEW`` options; a malformed one is a usage error (exit 2)."""
    column_map: dict[str, str] = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise typer.BadParameter(f"{item!r} is not OLD=NEW; e.g. --map "
                                     f"'Thermal conductivity=thermal_conductivity'",
                                     param_hint="--map")
        if old.strip() in column_map:
            raise typer.BadParameter(f"column {old.strip()!r} is mapped twice; keep one",
                                     param_hint="--map")
        column_map[old.strip()] = new.strip()
    return column_map


@app.command()
def status(name: NameArg, directory: DirOption = None) -> None:
    """Show counts, rounds, best measured material per domain and the last model."""
    with open_campaign(name, directory, read_only=True) as campaign:
        info = campaign.status()
    counts = info.counts
    console.print(f"{info.name}: {info.objective} {info.property} [{info.unit}] "
                  f"of {info.kind} materials", highlight=False)
    console.print(f"measurements {counts['measurements']:,} of {counts['measured_materials']:,}"
                  f" materials ({counts['materials']:,} known) from {counts['files']} files; "
                  f"round {info.current_round}; proposals "
                  + ", ".join(f"{v} {k}" for k, v in info.proposals.items())
                  + f"; screen runs {info.screen_runs}", highlight=False)
    if info.transfer_source is not None:
        console.print(f"transfer source: {info.transfer_source}", highlight=False)
    if info.best is not None:
        console.print(f"best so far: {info.best['material_id']} = {info.best['value']:.4g} "
                      f"{info.unit} (domain {info.best['domain']})", highlight=False)
    if len(info.rounds) > 1 or info.rounds["proposals"].sum():
        rounds = Table(title="rounds")
        for col in ("round", "measurements", "proposals", "answered", "steps done"):
            rounds.add_column(col)
        for rec in info.rounds.itertuples():
            rounds.add_row(str(rec.round), str(rec.measurements), str(rec.proposals),
                           str(rec.answered), rec.steps or "-")
        console.print(rounds)
    if not info.best_per_domain.empty:
        table = Table(title="best per domain")
        for col in ("domain", "material", f"value [{info.unit}]", "measured"):
            table.add_column(col)
        for rec in info.best_per_domain.itertuples():
            table.add_row(str(rec.domain), str(rec.material_id), f"{rec.value:.4g}", str(rec.n))
        console.print(table)
    model = info.last_model
    if model is None:
        console.print(f"no model yet; run `e2t train {name}`", highlight=False)
    else:
        metrics = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in sorted(model.metrics.items()))
        console.print(f"last model: v{model.version} ({model.kind}, "
                      f"{model.n_measurements} measurements, {model.created_at:%Y-%m-%d %H:%M}"
                      f" UTC; {metrics})", highlight=False)


@app.command()
def export(
    name: NameArg,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the tables to.",
                                      show_default=False)],
    directory: DirOption = None,
) -> None:
    """Write measurements, proposals, materials and models as Parquet and CSV."""
    with open_campaign(name, directory, read_only=True) as campaign:
        written = campaign.export(out)
    console.print(f"wrote {len(written)} files to {out}", highlight=False)


@app.command("list")
def list_campaigns(directory: DirOption = None) -> None:
    """List the campaigns under --dir: target, measurements, round, last model."""
    from e2t_discovery.exceptions import StoreError
    from e2t_discovery.loop.campaign import Campaign

    root = campaigns_root(directory)
    folders = (sorted(p.parent for p in root.glob("*/campaign.duckdb")) if root.is_dir()
               else [])
    if not folders:
        console.print(f"no campaigns in {root}; create one with `e2t init NAME --template "
                      f"pi1070-tc` (`e2t templates` lists the templates)", highlight=False)
        return
    table = Table(title=f"campaigns in {root}")
    for col in ("campaign", "target", "measurements", "round", "pending", "last model"):
        table.add_column(col)
    for folder in folders:
        try:
            with Campaign.open(folder.name, root=root, read_only=True) as campaign:
                info = campaign.status()
        except StoreError as exc:  # busy, or not readable: say so and go on
            table.add_row(folder.name, "-", "-", "-", "-", str(exc).split(";")[0])
            continue
        model = info.last_model
        table.add_row(info.name, f"{info.objective} {info.property} [{info.unit}]",
                      f"{info.counts['measurements']:,}", str(info.current_round),
                      str(info.proposals.get("proposed", 0)),
                      "-" if model is None else f"v{model.version} ({model.kind})")
    console.print(table)
