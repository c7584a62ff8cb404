"""``e2t demo``: a retrospective discovery campaign on RadonPy PI1070, end to end.

The campaign looks for the most thermally conductive polymers. It starts from
``per_class`` measured polymers of a few classes (:data:`SEED_CLASSES`), none of which
holds a top-1% polymer: those lie in classes 13, 3, 1, 8 and 10, which the campaign has
never measured. Each round the loop adapts the E2T surrogate, screens the PI1070 table as
the candidate library, proposes a batch and "measures" it by looking the values up in the
table, through the same ingest path lab files take (:mod:`e2t_discovery.loop.rounds`). At the
end it writes the HTML report, including a parity plot on every polymer never measured.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from e2t_discovery.config.templates import templates_dir
from e2t_discovery.data import datasets
from e2t_discovery.exceptions import E2TError
from e2t_discovery.loop.campaign import DB_NAME, DEFAULT_ROOT, Campaign
from e2t_discovery.loop.holdout import holdout_predictions
from e2t_discovery.loop.rounds import RoundResult
from e2t_discovery.loop.simulate import LabTable
from e2t_discovery.report import round_summary, write_report

__all__ = ["DEMO_NAME", "DEMO_CONFIG", "SEED_CLASSES", "DemoRow", "DemoResult", "run_demo"]

DEMO_NAME = "pi1070-demo"
#: The demo's campaign file (the shipped template ``pi1070-demo``).
DEMO_CONFIG = templates_dir() / "pi1070-demo.toml"
#: Polymer classes the initial data come from (none holds a top-1% polymer).
SEED_CLASSES = ("2", "4", "7", "9", "15")
PROPERTY = "thermal_conductivity"
LIBRARY_COLUMNS = ("id", "smiles", "polymer_class")


@dataclass(frozen=True)
class DemoRow:
    """One line of the per-round table.

    Attributes:
        round: Round number.
        measurements: Measurements so far (initial data included).
        best: Best thermal conductivity so far (W/m/K).
        best_domain: Polymer class of the best polymer.
        batch_rmse: RMSE of the predictions (made before measuring) on the batch just
            measured.
        new_classes: Classes measured for the first time in this round.
        top_found: Top-1% polymers measured so far.
        update: How the model was updated at the start of the round.
        seconds: Wall time of the round.
    """

    round: int
    measurements: int
    best: float
    best_domain: str
    batch_rmse: float
    new_classes: tuple[str, ...]
    top_found: int
    update: str
    seconds: float


@dataclass(frozen=True)
class DemoResult:
    """What the demo did.

    Attributes:
        campaign_dir: The campaign's folder.
        report: The report's ``index.html``.
        rows: One :class:`DemoRow` per round run.
        n_targets: Top-1% polymers in the table.
        top_found: Top-1% polymers measured by the end.
        first_target_after: Measurements after the initial data until the first top-1%
            polymer (None if none was found).
        seconds: Wall time of the whole demo.
        random_first_expected: Measurements random picks from the same pool need on
            average until the first top-1% polymer (:func:`random_first_hit`).
    """

    campaign_dir: Path
    report: Path
    rows: list[DemoRow]
    n_targets: int
    top_found: int
    first_target_after: int | None
    seconds: float
    random_first_expected: float = float("nan")

    @property
    def enhancement(self) -> float | None:
        """Random's expected measurements to the first hit over the demo's (None: no hit)."""
        if self.first_target_after is None:
            return None
        return self.random_first_expected / self.first_target_after


def random_first_hit(pool: int, targets: int) -> float:
    """Expected draws without replacement from ``pool`` items until the first of ``targets``.

    The first target's position among ``pool`` shuffled items has mean
    ``(pool + 1) / (targets + 1)``.
    """
    if targets < 1 or pool < targets:
        raise ValueError(f"need 1 <= targets <= pool, got targets={targets}, pool={pool}")
    return (pool + 1) / (targets + 1)


def _config_path() -> Path:
    if not DEMO_CONFIG.is_file():
        raise E2TError(f"the demo's campaign file {DEMO_CONFIG} is missing; reinstall "
                       f"e2t-discovery")
    return DEMO_CONFIG


def initial_rows(table: pd.DataFrame, per_class: int, seed: int) -> pd.DataFrame:
    """Draw ``per_class`` polymers of each seed class, deterministically.

    Args:
        table: PI1070 rows with a thermal conductivity (``id``, ``polymer_class``, ...).
        per_class: Polymers per class (fewer if a class is smaller).
        seed: Random seed.

    Returns:
        The drawn rows, sorted by id.
    """
    rng = np.random.default_rng(seed)
    classes = table["polymer_class"].astype(str)
    picks: list[int] = []
    for cls in SEED_CLASSES:
        members = np.flatnonzero(classes.to_numpy() == cls)
        picks.extend(int(i) for i in rng.choice(members, size=min(per_class, len(members)),
                                                replace=False))
    return table.iloc[sorted(picks)].sort_values("id").reset_index(drop=True)


def _open_fresh(root: Path, fresh: bool) -> Campaign:
    directory = root / DEMO_NAME
    if directory.exists() and fresh:
        if any(directory.iterdir()) and not (directory / DB_NAME).is_file():
            raise E2TError(f"{directory} exists and is not a campaign; remove it or pass "
                           f"another --dir")
        shutil.rmtree(directory)
    if (directory / DB_NAME).is_file():
        return Campaign.open(DEMO_NAME, root)
    return Campaign.create(DEMO_NAME, _config_path(), root)


def run_demo(
    root: str | Path | None = None,
    *,
    rounds: int = 10,
    per_class: int = 20,
    data_dir: str | Path | None = None,
    download: bool = True,
    seed: int = 0,
    fresh: bool = True,
    workers: int | None = None,
    progress: bool = False,
    on_round: Callable[[DemoRow], None] | None = None,
) -> DemoResult:
    """Run the demo campaign and write its report.

    Args:
        root: Folder holding campaigns (default ``./e2t-campaigns``).
        rounds: Rounds to run.
        per_class: Initial polymers per seed class.
        data_dir: Folder holding ``PI1070.csv`` (default: ``E2T_DATA_DIR``, then the user
            cache, then the copy embedded in the package).
        download: Download PI1070 into ``data_dir`` if it is not there (False: fail with
            how to get it).
        seed: Seed of the initial draw.
        fresh: Start over (delete an earlier demo campaign); False resumes it.
        workers: Scoring actors (default: all cores).
        progress: Show progress bars on stderr.
        on_round: Called with each round's :class:`DemoRow`.

    Returns:
        The :class:`DemoResult`.

    Raises:
        DataError: if PI1070 cannot be found or downloaded (the message says how to
            provide it).
    """
    started = time.perf_counter()
    table = datasets.load_pi1070(data_dir, download=download)
    table = table[table[PROPERTY].notna()].reset_index(drop=True)
    table["polymer_class"] = table["polymer_class"].astype(int)
    targets = set(table.nlargest(max(1, round(0.01 * len(table))), PROPERTY)["id"])
    root_dir = Path(root) if root is not None else DEFAULT_ROOT
    campaign = _open_fresh(root_dir, fresh)
    with campaign:
        library = campaign.dir / "library.csv"
        if not library.is_file():
            table[list(LIBRARY_COLUMNS)].to_csv(library, index=False)
        initial = campaign.dir / "initial.csv"
        if not initial.is_file():
            rows = initial_rows(table, per_class, seed)
            lab_file = rows[["id", "smiles", PROPERTY, "polymer_class"]].copy()
            lab_file.insert(3, "unit", campaign.config.target.unit)
            lab_file.to_csv(initial, index=False)
        campaign.ingest(initial, round=0)
        lab = LabTable(table, "id", PROPERTY)
        rows_out: list[DemoRow] = []
        seed_classes = set(campaign.store.measurements(PROPERTY)
                           .query("round == 0")["domain"].astype(str))

        def row_of(result: RoundResult) -> None:
            row = _demo_row(campaign, result, targets, seed_classes)
            rows_out.append(row)
            if on_round is not None:
                on_round(row)

        campaign.run(rounds, simulate_with=lab, library=library, workers=workers,
                     progress=progress, on_round=row_of)
        campaign.update_model()
        measured = campaign.store.measurements(PROPERTY)
        found = set(measured["material_id"].astype(str)) & targets
        after = measured[measured["round"] > 0]["material_id"].astype(str).tolist()
        first = next((k for k, i in enumerate(after, start=1) if i in targets), None)
        holdout = holdout_predictions(campaign, table, "id", PROPERTY)
        target_classes = sorted({str(c) for c in
                                 table.loc[table["id"].isin(targets), "polymer_class"]}, key=int)
        notes = (f"Retrospective demo on RadonPy PI1070: initial data from polymer classes "
                 f"{', '.join(SEED_CLASSES)} only; the {len(targets)} top-1% polymers lie in "
                 f"classes {', '.join(target_classes)}.",
                 f"Top-1% polymers found: {len(found)} of {len(targets)}; first after "
                 f"{first if first is not None else 'never'} measurements beyond the "
                 f"initial data.")
        report = write_report(campaign.report_data(
            holdout=holdout, reference_best=float(table[PROPERTY].max()), notes=notes),
            campaign.dir / "report")
        initial_ids = set(measured.loc[measured["round"] == 0, "material_id"].astype(str))
        pool = len(set(table["id"].astype(str)) - initial_ids)
        return DemoResult(campaign_dir=campaign.dir, report=report, rows=rows_out,
                          n_targets=len(targets), top_found=len(found),
                          first_target_after=first,
                          seconds=time.perf_counter() - started,
                          random_first_expected=random_first_hit(pool, len(targets - initial_ids)))


def _demo_row(campaign: Campaign, result: RoundResult, targets: set[str],
              seed_classes: set[str]) -> DemoRow:
    """Summarize the campaign after a round for the per-round table."""
    data = campaign.report_data()
    m = data.measurements
    summary = round_summary(m, data.proposals, "maximize")
    last = summary[summary["round"] == result.round]
    row = last.iloc[0] if len(last) else summary.iloc[-1]
    before = set(m[m["round"] < result.round]["domain"])
    now = m[m["round"] == result.round]["domain"]
    new = tuple(sorted(set(now) - before - seed_classes, key=str))
    return DemoRow(round=result.round, measurements=int(len(m)), best=float(row["best"]),
                   best_domain=str(row["best_domain"]), batch_rmse=float(row["batch_rmse"]),
                   new_classes=new,
                   top_found=len(set(m["material_id"]) & targets), update=result.update,
                   seconds=float(sum(result.seconds.values())))
