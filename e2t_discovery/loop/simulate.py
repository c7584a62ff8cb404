"""Retrospective campaigns against a labelled table (benchmark mode).

Two layers:

- :class:`LabTable` plays the lab for ``e2t run --simulate-with TABLE``: it answers each
  proposal with the value the table holds, as a results file that goes through the normal
  ingest path, so the closed loop is exercised exactly as with real lab results.
- :func:`run_retrospective` is the same loop as pure in-process functions (no store, no
  Ray), fast enough to repeat over many seeds and strategies in ``scripts/``: fit on the
  initial data, then per round predict the unmeasured pool, let a selector pick a batch,
  "measure" it from the table and update the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from e2t_discovery.exceptions import DataError
from e2t_discovery.loop.adaptation import AdaptPolicy, apply_update, plan_update

if TYPE_CHECKING:
    from e2t_discovery.config.schema import CampaignConfig

__all__ = [
    "LabTable",
    "Learner",
    "Selector",
    "Trace",
    "run_retrospective",
    "first_hit",
    "fraction_found",
    "random_first_hit_expectation",
]


# --------------------------------------------------------------------------- the lab


class LabTable:
    """A labelled table that answers proposals by identifier.

    Args:
        frame: The table.
        id_column: Column holding material identifiers (as the campaign stores them).
        value_column: Column holding the property to report.
    """

    def __init__(self, frame: pd.DataFrame, id_column: str, value_column: str) -> None:
        for col in (id_column, value_column):
            if col not in frame.columns:
                raise DataError(f"simulation table lacks column {col!r}; it has "
                                f"{', '.join(map(str, frame.columns[:12]))}...")
        table = frame[[id_column, value_column]].copy()
        table[id_column] = table[id_column].astype(str)
        table = table.dropna(subset=[value_column]).drop_duplicates(id_column, keep="first")
        self.id_column = id_column
        self.value_column = value_column
        self._values = dict(zip(table[id_column], table[value_column].astype(float),
                                strict=True))
        self.frame = frame

    @classmethod
    def from_path(cls, path: str | Path, id_column: str, value_column: str) -> LabTable:
        """Read a CSV or Parquet table.

        Raises:
            DataError: if the file is missing or not CSV/Parquet.
        """
        p = Path(path)
        if not p.is_file():
            raise DataError(f"simulation table {p} does not exist; pass a CSV or Parquet file")
        if p.suffix.lower() == ".parquet":
            frame = pd.read_parquet(p)
        elif p.suffix.lower() in (".csv", ".txt"):
            frame = pd.read_csv(p)
        else:
            raise DataError(f"simulation table {p} is not .csv or .parquet")
        return cls(frame, id_column, value_column)

    def __contains__(self, material_id: object) -> bool:
        return str(material_id) in self._values

    def __len__(self) -> int:
        return len(self._values)

    def answer(self, material_ids: Sequence[object]) -> pd.DataFrame:
        """Look up the measured value of each id.

        Args:
            material_ids: Identifiers of the proposed materials.

        Returns:
            Frame with columns ``material_id`` and ``value``, one row per known id, in the
            given order; ids the table has no (finite) value for are left out.
        """
        rows = [(str(m), self._values[str(m)]) for m in material_ids if str(m) in self._values]
        return pd.DataFrame(rows, columns=["material_id", "value"])

    def lab_file(self, material_ids: Sequence[object], config: CampaignConfig) -> pd.DataFrame:
        """Answer proposals as a lab-results frame in the campaign's ingest format.

        Columns: the configured id column, input column, target column and unit column
        (the campaign unit), plus the domain column when domains come from a column. The
        input and domain columns are copied from the table, which must hold them under the
        campaign's names.

        Args:
            material_ids: Identifiers of the proposed materials.
            config: The campaign configuration.

        Returns:
            One row per id the table can answer, in the given order.

        Raises:
            DataError: if the table lacks the input or domain column.
        """
        rep, target = config.representation, config.target
        needed = [rep.input_column]
        if config.domains.method == "column" and config.domains.column:
            needed.append(config.domains.column)
        missing = [c for c in needed if c not in self.frame.columns]
        if missing:
            raise DataError(f"simulation table lacks column(s) {', '.join(missing)} that the "
                            f"campaign's lab files need; use a table with them")
        answers = self.answer(material_ids)
        rows = self.frame[[self.id_column, *needed]].copy()
        rows.index = pd.Index(rows[self.id_column].astype(str), name="_key")
        rows = rows[~rows.index.duplicated(keep="first")]
        out = pd.DataFrame({rep.id_column: answers["material_id"].to_numpy()})
        for col in needed:
            out[col] = rows.loc[answers["material_id"], col].to_numpy()
        out[target.column] = answers["value"].to_numpy()
        if target.unit_column:
            out[target.unit_column] = target.unit
        return out


# --------------------------------------------------------------------------- in-process loop


class Learner(Protocol):
    """What :func:`run_retrospective` needs from a model (E2TSurrogate and baselines)."""

    def fit(self, X: Any, y: np.ndarray, groups: Any = None, **kw: Any) -> Any: ...

    def predict(self, X: Any, return_std: bool = False) -> Any: ...


class Selector(Protocol):
    """Pick a batch: ``select(model, X_pool, mean, std, domains, measured, q, rng, X_measured)``.

    ``X_pool`` is ``p x d``; ``mean``/``std`` are ``(p,)``; ``domains`` ``(p,)`` labels of
    the pool; ``measured`` the labels and values seen so far as a frame with ``domain``
    and ``value`` (goodness scale, larger is better) and ``X_measured`` their ``m x d``
    features. Returns ``(q,)`` pool positions.
    """

    def __call__(self, model: Any, X_pool: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 domains: np.ndarray, measured: pd.DataFrame, q: int,
                 rng: np.random.Generator, X_measured: np.ndarray) -> np.ndarray: ...


@dataclass
class Trace:
    """Everything one retrospective campaign did.

    Attributes:
        order: Table positions measured after the initial data, in measurement order.
        rounds: Round of each entry of ``order`` (1-based).
        batch_rmse: RMSE of the pre-measurement prediction on each round's batch.
        fit_seconds: Wall time of the initial fit.
        update_seconds: Wall time of each round's model update.
        fine_tunes: Rounds whose update fine-tuned the encoder.
    """

    order: list[int] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)
    batch_rmse: list[float] = field(default_factory=list)
    fit_seconds: float = 0.0
    update_seconds: list[float] = field(default_factory=list)
    fine_tunes: list[int] = field(default_factory=list)


def run_retrospective(
    make_model: Callable[[], Any] | None,
    select: Selector,
    X: np.ndarray,
    y: np.ndarray,
    domains: np.ndarray,
    initial: np.ndarray,
    *,
    budget: int,
    batch: int,
    seed: int,
    pool: np.ndarray | None = None,
    update: str = "refit",
    policy: AdaptPolicy | None = None,
    prefit: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Trace:
    """Run one retrospective campaign in process.

    Args:
        make_model: Returns a fresh unfitted model; None for model-free selectors (random).
        select: The batch selector.
        X: ``n x d`` features of the whole table.
        y: ``(n,)`` goodness values (larger is better; flip the sign to minimize).
        domains: ``(n,)`` domain labels.
        initial: Positions measured before the campaign starts.
        budget: Measurements to make after the initial data.
        batch: Batch size per round.
        seed: Random seed (selectors and model construction).
        pool: Positions that may be proposed (default: all not in ``initial``).
        update: ``refit`` (fit from scratch each round) or ``adapt`` (E2T: condition, and
            fine-tune when a domain reaches the policy's threshold).
        policy: Adaptation policy for ``update="adapt"``.
        prefit: ``make_model`` returns a model already fitted on ``initial`` (e.g. a copy
            of one meta-trained model shared by several strategies); it is not refitted.
        progress: Called with the number of measurements made after each round.

    Returns:
        The :class:`Trace`.
    """
    if update not in ("refit", "adapt"):
        raise DataError(f"update {update!r} must be 'refit' or 'adapt'")
    policy = policy or AdaptPolicy()
    rng = np.random.default_rng(seed)
    domains = np.asarray(domains).astype(str)
    measured = [int(i) for i in initial]
    candidates = np.setdiff1d(np.arange(len(y)) if pool is None else np.asarray(pool),
                              measured)
    trace = Trace()
    model = None
    if make_model is not None:
        t0 = time.perf_counter()
        model = make_model()
        if not prefit:
            model.fit(X[measured], y[measured], domains[measured])
        trace.fit_seconds = time.perf_counter() - t0
    rnd = 0
    while len(trace.order) < budget and len(candidates):
        rnd += 1
        q = min(batch, budget - len(trace.order), len(candidates))
        if model is not None:
            mean, std = model.predict(X[candidates], return_std=True)
        else:
            mean = np.zeros(len(candidates))
            std = np.ones(len(candidates))
        seen = pd.DataFrame({"domain": domains[measured], "value": y[measured]})
        picked_pos = np.asarray(select(model, X[candidates], np.asarray(mean),
                                       np.asarray(std), domains[candidates], seen, q, rng,
                                       X[measured]))
        picked = candidates[picked_pos]
        if len(set(picked.tolist())) != len(picked):
            raise DataError("selector returned duplicate positions")
        if model is not None:
            err = np.asarray(mean)[picked_pos] - y[picked]
            trace.batch_rmse.append(float(np.sqrt(np.mean(err**2))))
        before = list(measured)
        measured.extend(int(i) for i in picked)
        candidates = np.setdiff1d(candidates, picked)
        trace.order.extend(int(i) for i in picked)
        trace.rounds.extend([rnd] * len(picked))
        if model is not None:
            t0 = time.perf_counter()
            if update == "adapt":
                plan = plan_update(domains[before], domains[picked], policy)
                model = apply_update(model, X[picked], y[picked], domains[picked], plan,
                                     policy)
                if plan.fine_tune:
                    trace.fine_tunes.append(rnd)
            else:
                model = make_model()  # type: ignore[misc]
                model.fit(X[measured], y[measured], domains[measured])
            trace.update_seconds.append(time.perf_counter() - t0)
        if progress is not None:
            progress(len(trace.order))
    return trace


# --------------------------------------------------------------------------- metrics


def first_hit(order: Sequence[int], targets: set[int]) -> int | None:
    """1-based number of measurements until the first target, or None if never."""
    for k, i in enumerate(order, start=1):
        if int(i) in targets:
            return k
    return None


def fraction_found(order: Sequence[int], targets: set[int], budget: int) -> float:
    """Fraction of the targets among the first ``budget`` measurements."""
    if not targets:
        raise DataError("no target materials: cannot compute the fraction found")
    return len(targets.intersection(int(i) for i in list(order)[:budget])) / len(targets)


def random_first_hit_expectation(n_pool: int, n_targets: int) -> float:
    """Expected draws without replacement until the first of ``n_targets`` in ``n_pool``."""
    if n_targets <= 0:
        raise DataError("n_targets must be positive")
    return (n_pool + 1) / (n_targets + 1)
