"""What a report shows (:class:`ReportData`) and building it from a campaign's store.

Building reads each store table once (:class:`CampaignTables`) and passes the frames on;
nothing here needs a model or a ``Campaign``: predictions on held-back tables are made on
the loop side (:func:`e2t_discovery.loop.holdout.holdout_predictions`) and come in as a
frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from e2t_discovery.domains import NO_DOMAIN
from e2t_discovery.exceptions import E2TError
from e2t_discovery.objective import DIRECTIONS
from e2t_discovery.report.labels import axis_label
from e2t_discovery.report.metrics import prospective_predictions

if TYPE_CHECKING:
    from e2t_discovery.config.schema import CampaignConfig
    from e2t_discovery.store import TransferSourceRecord

__all__ = [
    "OBJECTIVES",
    "CampaignTables",
    "ReportData",
    "StoreReader",
    "campaign_report_data",
    "campaign_setup",
    "data_sources",
]

OBJECTIVES = DIRECTIONS

MEASUREMENT_COLUMNS = ("material_id", "value", "round", "domain")
PROPOSAL_COLUMNS = ("round", "material_id", "strategy", "mean", "std", "acquisition",
                    "domain", "status")


@dataclass(frozen=True)
class ReportData:
    """What a report shows, as plain frames.

    Attributes:
        name: Campaign name (page title).
        property: Target property name.
        unit: Unit of the target.
        objective: ``maximize``, ``minimize`` or ``range``.
        measurements: See :mod:`e2t_discovery.report.metrics`.
        proposals: See :mod:`e2t_discovery.report.metrics`.
        target_range: ``(low, high)`` for the ``range`` objective, else None.
        holdout: Optional extra held-back predictions, columns ``y_true``, ``mean``,
            ``std`` (and optionally ``domain``), e.g. the unmeasured part of a labelled
            table in a simulated campaign.
        reference_best: Optional best value that exists (e.g. the best of a labelled
            table), drawn as a line on the best-so-far plot.
        notes: Free-text lines shown at the top of the page.
        setup: ``(what, value)`` lines of the page's setup table: strategy, model
            settings, data sources (see :func:`campaign_setup`).
        domain_name: What a domain is, for the heatmap's axis (e.g. "Polymer class").
    """

    name: str
    property: str
    unit: str
    objective: str
    measurements: pd.DataFrame
    proposals: pd.DataFrame
    target_range: tuple[float, float] | None = None
    holdout: pd.DataFrame | None = None
    reference_best: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    setup: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    domain_name: str = "Domain"

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise E2TError(f"objective {self.objective!r} is not one of {', '.join(OBJECTIVES)}")
        if self.objective == "range" and self.target_range is None:
            raise E2TError("objective 'range' needs target_range=(low, high)")
        _require(self.measurements, MEASUREMENT_COLUMNS, "measurements")
        _require(self.proposals, PROPOSAL_COLUMNS, "proposals")

    def target_label(self) -> str:
        """Return the target's axis label with its unit (:func:`axis_label`)."""
        return axis_label(self.property, self.unit)

    def held_back(self) -> list[tuple[str, pd.DataFrame]]:
        """Return the held-back prediction sets as ``(label, frame)``.

        The proposals measured afterwards always come first (possibly empty), then the
        ``holdout`` frame when it has rows. Each frame has ``mean``, ``std``, ``y_true``.
        """
        sets = [("proposed, then measured",
                 prospective_predictions(self.measurements, self.proposals))]
        if self.holdout is not None and len(self.holdout):
            sets.append(("never measured (held back)", self.holdout))
        return sets


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise E2TError(f"{what} frame lacks column(s) {', '.join(missing)}")


# --------------------------------------------------------------------------- from a store


class StoreReader(Protocol):
    """The store reads a report needs (:class:`e2t_discovery.store.db.Store` has them)."""

    def measurements(self, property: str | None = None) -> pd.DataFrame:
        """Return measurements (with ``source_file``), oldest first."""
        ...

    def proposals(self, round: int | None = None, status: str | None = None) -> pd.DataFrame:
        """Return proposals."""
        ...

    def models(self) -> pd.DataFrame:
        """Return model versions, oldest first."""
        ...

    def screen_runs(self) -> pd.DataFrame:
        """Return screen runs."""
        ...

    def transfer_source(self) -> TransferSourceRecord | None:
        """Return the campaign's ``[transfer]`` source, or None."""
        ...


@dataclass(frozen=True)
class CampaignTables:
    """The store tables one report is built from, each read once.

    Attributes:
        measurements: The store's measurements of the target property.
        proposals: All proposals.
        models: All model versions.
        screen_runs: All screen runs.
        transfer_source: One line naming the ``[transfer]`` source, or None.
    """

    measurements: pd.DataFrame
    proposals: pd.DataFrame
    models: pd.DataFrame
    screen_runs: pd.DataFrame
    transfer_source: str | None = None

    @classmethod
    def read(cls, store: StoreReader, property: str) -> CampaignTables:
        """Read the tables of a report on ``property`` from ``store``."""
        from e2t_discovery.store.transfer import auto_choice

        source = store.transfer_source()
        models = store.models()
        return cls(measurements=store.measurements(property), proposals=store.proposals(),
                   models=models, screen_runs=store.screen_runs(),
                   transfer_source=None if source is None
                   else source.describe(auto_choice(models)))


#: Source files of one folder listed one by one; more are summarized as a count.
MAX_LISTED_FILES = 3


def _pairs(params: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _shown_path(path: str, base: Path) -> str:
    """``path`` relative to the campaign folder when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return path


def _rounds_text(rounds: pd.Series) -> str:
    lo, hi = int(rounds.min()), int(rounds.max())
    name = (lambda r: "initial" if r == 0 else str(r))  # noqa: E731
    return f"round {name(lo)}" if lo == hi else f"rounds {name(lo)}–{name(hi)}"


def data_sources(measurements: pd.DataFrame, base: Path) -> str:
    """Describe where the measurements came from: files, their rounds and counts.

    Args:
        measurements: The store's measurements (``source_file``, ``round`` columns).
        base: The campaign folder (paths inside it are shown relative to it).

    Returns:
        One line: per folder of source files either the file or, for several files, their
        count, first and last name; simulated lab answers (``simulated/``, written by
        ``e2t run --simulate-with``) are named as such.
    """
    if measurements.empty:
        return "no measurements"
    m = measurements.assign(shown=[_shown_path(str(f), base) for f in
                                   measurements["source_file"]])
    m = m.assign(folder=[str(Path(s).parent) for s in m["shown"]])
    parts = []
    for folder, group in m.groupby("folder", sort=False):
        sim = (" — simulated lab: values looked up in a labelled table "
               "(e2t run --simulate-with)") if folder == "simulated" else ""
        files = list(dict.fromkeys(group["shown"]))
        if len(files) <= MAX_LISTED_FILES:
            parts += [f"{f} ({_rounds_text(rows['round'])}, {len(rows)} measurements){sim}"
                      for f, rows in group.groupby("shown", sort=False)]
        else:
            parts.append(f"{len(files)} files {Path(files[0]).name} … {Path(files[-1]).name} "
                         f"in {folder}/ ({_rounds_text(group['round'])}, {len(group)} "
                         f"measurements){sim}")
    return "; ".join(parts)


def _strategy_text(config: CampaignConfig, proposals: pd.DataFrame) -> str:
    strategy = f"{config.strategy.name}, batch of {config.strategy.batch_size}"
    if config.strategy.params:
        strategy += f" ({_pairs(config.strategy.params)})"
    used = proposals["strategy"].astype(str).value_counts()
    if len(used) and set(used.index) != {config.strategy.name}:
        strategy += "; proposals by " + ", ".join(f"{k} ({v})" for k, v in used.items())
    return strategy


def _versions_text(versions: pd.DataFrame) -> str:
    if not len(versions):
        return "none trained yet"
    kinds = versions["kind"].astype(str).value_counts()
    last = versions.iloc[-1]
    return (f"{len(versions)} versions ({', '.join(f'{v} {k}' for k, v in kinds.items())});"
            f" latest v{int(last['version'])} ({last['kind']}) on "
            f"{int(last['n_measurements'])} measurements")


def _library_text(config: CampaignConfig, runs: pd.DataFrame, folder: Path) -> str:
    if not len(runs):
        return config.library.path or "not screened yet"
    libs = runs.groupby("library", sort=False).agg(n=("id", "size"), rows=("n_rows", "max"))
    return "; ".join(f"{_shown_path(str(k), folder)} ({int(r.rows)} candidates, "
                     f"screened {int(r.n)}×)" for k, r in libs.iterrows())


def campaign_setup(config: CampaignConfig, folder: Path, tables: CampaignTables, *,
                   holdout_source: str | Path | None = None) -> tuple[tuple[str, str], ...]:
    """Describe what produced a campaign's results, for the report's setup table.

    Args:
        config: The campaign's configuration.
        folder: The campaign folder (paths inside it are shown relative to it).
        tables: The campaign's store tables.
        holdout_source: The labelled table the held-back predictions come from, if any.

    Returns:
        ``(what, value)`` lines: strategy, model settings and versions, representation,
        domains, data sources, screened libraries and the held-back table.
    """
    model = _pairs(config.model.settings) or "E2TSurrogate defaults"
    model += (f"; fine-tune ({config.model.adaptation_steps} steps) when a domain reaches "
              f"{config.model.adaptation_threshold} measurements")
    rep = config.representation
    representation = f"{rep.kind}, column {rep.input_column}"
    if rep.featurizer:
        representation += f" ({_pairs(rep.featurizer)})"
    dom = config.domains
    domains = {"column": f"the values of column {dom.column}",
               "clustering": f"{dom.n_clusters} clusters of the features",
               "elements": f"element groups {dom.element_groups}"}[dom.method]
    setup = [("Strategy", _strategy_text(config, tables.proposals)), ("Model settings", model),
             ("Model versions", _versions_text(tables.models)),
             ("Representation", representation), ("Domains", domains),
             ("Data", data_sources(tables.measurements, folder)),
             ("Library", _library_text(config, tables.screen_runs, folder))]
    if tables.transfer_source is not None:
        setup.append(("Transfer source", tables.transfer_source))
    if holdout_source is not None:
        setup.append(("Held-back table", str(holdout_source)))
    if config.campaign.description:
        setup.insert(0, ("Campaign", config.campaign.description))
    return tuple(setup)


def _domain_name(config: CampaignConfig) -> str:
    dom = config.domains
    if dom.method == "column" and dom.column:
        return axis_label(dom.column, "")
    return {"clustering": "Cluster", "elements": "Element group"}.get(dom.method, "Domain")


def campaign_report_data(store: StoreReader, config: CampaignConfig, name: str, folder: Path,
                         *, holdout: pd.DataFrame | None = None,
                         reference_best: float | None = None,
                         notes: tuple[str, ...] = (),
                         holdout_source: str | Path | None = None) -> ReportData:
    """Read a campaign's store into :class:`ReportData` (each table once).

    Args:
        store: The campaign's store.
        config: The campaign's configuration.
        name: The campaign's name (page title).
        folder: The campaign folder (source paths inside it are shown relative to it).
        holdout: Optional held-back predictions (see :class:`ReportData`).
        reference_best: Optional best value known to exist.
        notes: Lines shown at the top of the page.
        holdout_source: The table ``holdout`` was predicted on (shown in the setup).
    """
    tables = CampaignTables.read(store, config.target.property)
    m = tables.measurements
    measurements = pd.DataFrame({
        "material_id": m["material_id"].astype(str), "value": m["value"].astype(float),
        "round": m["round"].astype(int), "domain": m["domain"].fillna(NO_DOMAIN).astype(str)})
    proposals = tables.proposals[["round", "material_id", "strategy", "mean", "std",
                                  "acquisition", "domain", "status", "reason"]].copy()
    proposals["domain"] = proposals["domain"].fillna(NO_DOMAIN).astype(str)
    obj = config.objective
    target_range = (obj.low, obj.high) if obj.direction == "range" else None
    return ReportData(name=name, property=config.target.property, unit=config.target.unit,
                      objective=obj.direction, measurements=measurements.reset_index(drop=True),
                      proposals=proposals.reset_index(drop=True),
                      target_range=target_range,  # type: ignore[arg-type]
                      holdout=holdout, reference_best=reference_best, notes=notes,
                      setup=campaign_setup(config, folder, tables,
                                           holdout_source=holdout_source),
                      domain_name=_domain_name(config))
