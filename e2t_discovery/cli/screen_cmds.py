"""CLI commands of the screening area: ``e2t library polymers``, ``e2t screen``, ``e2t propose``.

Each command parses its arguments, calls the library function of the same name and prints
a short summary; errors are :class:`~e2t_discovery.exceptions.E2TError` subclasses that
:func:`e2t_discovery.cli.main` prints as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from e2t_discovery.cli import (
    ChunkSizeOption,
    DirOption,
    LibraryOption,
    RayAddressOption,
    WorkersOption,
    WorkflowGroup,
    app,
    open_campaign,
    plain_console,
)
from e2t_discovery.exceptions import ScreenError, StrategyError

__all__ = ["library_app", "library_polymers", "screen", "propose"]

console = plain_console()
library_app = typer.Typer(help="Generate virtual candidate libraries.", no_args_is_help=True,
                          cls=WorkflowGroup)
app.add_typer(library_app, name="library")

def _read_seeds(path: Path) -> tuple[list[str], list[str] | None, list[str] | None]:
    """Read seed p-SMILES (column ``smiles``; optional ``domain``/``polymer_class``, ``id``)."""
    if not path.is_file():
        raise ScreenError(f"seed file {path} does not exist; give a CSV with a 'smiles' column")
    import pandas as pd

    frame = pd.read_csv(path) if path.suffix != ".parquet" else pd.read_parquet(path)
    if "smiles" not in frame.columns:
        raise ScreenError(f"seed file {path} has no 'smiles' column; columns: "
                          f"{', '.join(map(str, frame.columns))}")
    dom_col = next((c for c in ("domain", "polymer_class") if c in frame.columns), None)
    domains = frame[dom_col].astype(str).tolist() if dom_col else None
    parents = frame["id"].astype(str).tolist() if "id" in frame.columns else None
    return frame["smiles"].astype(str).tolist(), domains, parents


@library_app.command("polymers")
def library_polymers(
    out: Annotated[Path, typer.Option("--out", help="Output folder (new or empty).")],
    n: Annotated[int, typer.Option("--n", help="Unique candidates to generate.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    seeds_from: Annotated[
        Path | None,
        typer.Option("--seeds-from", help="CSV/Parquet of seed p-SMILES (column 'smiles'; "
                                          "optional 'domain' or 'polymer_class', 'id'). "
                                          "Default: PI1070's repeat units."),
    ] = None,
    shard_size: Annotated[int, typer.Option(help="Rows per Parquet shard.")] = 50_000,
    workers: Annotated[int, typer.Option(help="Generator processes (Ray tasks if > 1).")] = 1,
    id_prefix: Annotated[str, typer.Option(
        help="Prefix of candidate ids; give each library of a campaign its own, since "
             "ids already measured or proposed are never proposed again.")] = "VP",
    data_dir: Annotated[Path | None, typer.Option(help="Folder with PI1070.csv (default: "
                                                        "$E2T_DATA_DIR, the cache, else the "
                                                        "embedded copy).")] = None,
) -> None:
    """Generate a virtual polymer library (p-SMILES with two '*') as Parquet shards."""
    from e2t_discovery.data.generate import generate_polymer_library

    if seeds_from is not None:
        smiles, domains, parents = _read_seeds(seeds_from)
    else:
        from e2t_discovery.data.datasets import load_pi1070

        pi = load_pi1070(data_dir)
        smiles = pi["smiles"].astype(str).tolist()
        domains = pi["polymer_class"].astype(str).tolist()
        parents = pi["id"].astype(str).tolist()
    info = generate_polymer_library(smiles, n, seed, out, domains=domains, parents=parents,
                                    shard_size=shard_size, workers=workers,
                                    id_prefix=id_prefix)
    console.print(f"wrote {info.n:,} candidates in {len(info.shards)} shards to {info.path} "
                  f"({info.elapsed_s:.1f} s; {info.invalid:,} invalid and "
                  f"{info.duplicates:,} duplicate products dropped)")


@app.command("screen")
def screen(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    library: LibraryOption = None,
    ray_address: RayAddressOption = None,
    chunk_size: ChunkSizeOption = 2048,
    workers: WorkersOption = None,
    directory: DirOption = None,
) -> None:
    """Score a candidate library with the campaign's current model (resumable)."""
    with open_campaign(name, directory) as campaign:
        run_id, summary = campaign.screen(library, batch_size=chunk_size,
                                          ray_address=ray_address, workers=workers)
    console.print(
        f"screen run {run_id}: {summary.n_scored:,} scored, {summary.n_rejected:,} rejected "
        f"in {summary.elapsed_s:.1f} s ({summary.rate:,.0f} candidates/s, "
        f"{summary.workers} workers); {summary.skipped} of {summary.n_units} shards were "
        f"already done; results in {summary.out_dir}")
    if summary.first_reject is not None:
        console.print(f"first rejected: {summary.first_reject} (every reject with its file "
                      f"and row in {summary.out_dir / 'rejects'})", highlight=False)


@app.command("propose")
def propose(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    out: Annotated[Path, typer.Option("--out", help="File to write the batch to: .csv, or "
                                      ".parquet for Parquet.")],
    strategy: Annotated[str | None, typer.Option(
        "--strategy", help="Strategy name (default: the campaign's): greedy, ucb, logei, "
                           "qlognei, thompson, random, ood-ucb, new-domain, domain-bayes or a "
                           "plugin.")]
    = None,
    batch: Annotated[int | None, typer.Option(
        "--batch", help="Candidates to propose, q (default: the campaign file's "
        "strategy.batch_size).", show_default=False)] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="Strategy parameter KEY=VALUE (repeatable), e.g. beta=1.0.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of random strategies.")] = 0,
    allow_pending: Annotated[bool, typer.Option(
        "--allow-pending", help="Open this batch even while proposals of another batch "
        "await the lab (see `e2t proposals list`).")] = False,
    directory: DirOption = None,
) -> None:
    """Choose a batch with a strategy, record it in the store and write it as CSV."""
    from e2t_discovery.cli.proposal_cmds import print_proposals
    from e2t_discovery.loop.propose import write_proposals

    with open_campaign(name, directory) as campaign:
        cfg = campaign.config.strategy
        chosen = strategy or cfg.name
        params = _parse_params(param) if param else None
        frame = campaign.propose(chosen, batch or cfg.batch_size, params=params, seed=seed,
                                 allow_pending=allow_pending)
        unit = campaign.config.target.unit
    path = write_proposals(frame, out)
    console.print(f"proposed {len(frame)} candidates with {chosen!r}; wrote {path}",
                  highlight=False)
    print_proposals(console, frame, unit)


def _parse_params(items: list[str]) -> dict[str, object]:
    """Parse ``KEY=VALUE`` pairs; values become int, float or str."""
    params: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StrategyError(f"--param {item!r} is not KEY=VALUE; e.g. --param beta=1.0")
        for cast in (int, float):
            try:
                params[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            params[key] = value
    return params
