"""The strategy contract: choose q candidates from a frame of candidate posteriors.

A strategy sees a frame with one row per candidate (``id``, ``mean``, ``std``,
``domain_distance``, ``domain`` and, from a screen, ``acquisition`` and ``canonical``),
optionally the model and the candidates' features (for joint-posterior strategies), and
what was measured. :meth:`Strategy.select` removes every candidate that was measured or
proposed before (by id, and by canonical form where both sides have one), hands the rest
to the subclass's :meth:`Strategy.choose`, and returns the chosen rows in order with
``acquisition``, ``reason`` and ``rank``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from e2t_discovery.exceptions import StrategyError
from e2t_discovery.model.protocol import Surrogate
from e2t_discovery.objective import RANKED_DIRECTIONS, Objective

__all__ = [
    "Strategy", "Context", "Choice", "OBJECTIVES", "percentile_rank", "require_columns", "ucb",
    "top", "shortlist", "check_positive", "check_non_negative", "measured_counts",
]

OBJECTIVES = RANKED_DIRECTIONS
REQUIRED_COLUMNS = ("id", "mean", "std")


@dataclass(frozen=True)
class Context:
    """What a strategy may use besides the eligible candidates.

    Attributes:
        sign: +1 to maximize, -1 to minimize (strategies maximize ``sign * y``).
        rng: Random generator (the only source of randomness).
        model: The surrogate (``posterior``, ``to_botorch``), or None.
        features: ``n x d`` features aligned with the eligible candidates, or None.
        measured: Measurements (``id``, ``domain``, ``value``), or an empty frame.
        measured_features: ``m x d`` features of the measured materials, or None.
    """

    sign: float
    rng: np.random.Generator
    model: Surrogate | None
    features: np.ndarray | None
    measured: pd.DataFrame
    measured_features: np.ndarray | None

    def best_measured(self) -> float | None:
        """Best measured value in ``sign`` space (``max(sign * value)``), or None."""
        if "value" not in self.measured.columns or self.measured.empty:
            return None
        values = pd.to_numeric(self.measured["value"], errors="coerce").dropna()
        return None if values.empty else float((self.sign * values).max())


@dataclass(frozen=True)
class Choice:
    """One pick: a row position in the eligible frame, its acquisition value and why."""

    position: int
    acquisition: float
    reason: str


def percentile_rank(values: np.ndarray) -> np.ndarray:
    """Return ranks scaled to [0, 1] (ties share their mean rank; one value -> 1.0)."""
    series = pd.Series(np.asarray(values, dtype=np.float64))
    if len(series) <= 1:
        return np.ones(len(series))
    return ((series.rank(method="average") - 1) / (len(series) - 1)).to_numpy()


class Strategy(ABC):
    """An acquisition strategy; subclasses implement :meth:`choose`.

    Class attributes:
        name: Registry name.
        uses_model: True if the strategy uses ``model`` and ``features`` when given.
        needs_model: True if the strategy cannot run without them.
    """

    name: ClassVar[str] = ""
    uses_model: ClassVar[bool] = False
    needs_model: ClassVar[bool] = False

    def params(self) -> dict[str, Any]:
        """Return the strategy's parameters (for records and reports)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def uncertain_candidates(self) -> int:
        """How many of the most uncertain screened candidates (largest ``std``) the loop
        should hand over beside its shortlist by acquisition (0: none needed)."""
        return 0

    def acquisition_column(self, objective: str) -> tuple[str, float] | None:
        """Name this strategy's acquisition for the lab, in the user's terms.

        :meth:`select` returns ``acquisition`` oriented so that larger is better, which
        for a minimized target is often a negated quantity (``-mean + beta * std``). The
        proposal file states it as the user thinks of it instead.

        Args:
            objective: ``maximize`` or ``minimize``.

        Returns:
            ``(column, factor)``: the proposal file's column and the factor that turns
            ``acquisition`` into it (e.g. ``("lcb", -1.0)``: the lower confidence bound of
            a minimized target, in its unit); None when the file's ``mean`` or ``rank``
            already states what the strategy ranked by. Plugins that do not override it
            get ``("acquisition", 1.0)``.
        """
        return ("acquisition", 1.0)

    @abstractmethod
    def choose(self, candidates: pd.DataFrame, q: int, ctx: Context) -> list[Choice]:
        """Return ``q`` distinct picks among ``candidates`` (all eligible, ``q <= len``)."""

    def select(
        self,
        candidates: pd.DataFrame,
        q: int,
        *,
        model: Surrogate | None = None,
        features: np.ndarray | None = None,
        measured: pd.DataFrame | None = None,
        measured_features: np.ndarray | None = None,
        proposed: Collection[str] = (),
        objective: str = "maximize",
        rng: np.random.Generator | int | None = None,
    ) -> pd.DataFrame:
        """Select a batch of at most ``q`` new candidates.

        Args:
            candidates: One row per candidate: ``id``, ``mean``, ``std`` and, as a
                strategy needs them, ``domain``, ``domain_distance``, ``acquisition``
                (the screen's cheap score), ``canonical``.
            q: Batch size.
            model: The surrogate, for joint-posterior strategies.
            features: ``n x d`` features aligned with ``candidates``' rows.
            measured: Measured materials: ``id`` and optionally ``canonical``,
                ``domain``, ``value``.
            measured_features: ``m x d`` features aligned with ``measured``' rows.
            proposed: Ids proposed before (never proposed again).
            objective: ``maximize`` or ``minimize``.
            rng: A generator or a seed.

        Returns:
            The chosen rows (all input columns) in pick order, with ``acquisition``
            (this strategy's value), ``reason`` and ``rank`` (1..), at most ``q`` rows:
            fewer only if fewer candidates are eligible.

        Raises:
            StrategyError: on a bad ``q``/objective, missing columns or inputs, or when no
                candidate is left.
        """
        if not isinstance(q, int | np.integer) or q < 1:
            raise StrategyError(f"batch size q={q!r} must be a positive integer")
        if objective not in OBJECTIVES:
            raise StrategyError(f"strategy {self.name!r} supports objective maximize or "
                                f"minimize, not {objective!r}")
        missing = [c for c in REQUIRED_COLUMNS if c not in candidates.columns]
        if missing:
            raise StrategyError(f"candidates lack column(s) {', '.join(missing)}; pass a "
                                f"screen's results (id, mean, std, ...)")
        if features is not None and len(features) != len(candidates):
            raise StrategyError(f"features have {len(features)} rows for {len(candidates)} "
                                f"candidates; pass one row per candidate")
        if self.needs_model and (model is None or features is None):
            raise StrategyError(f"strategy {self.name!r} needs the model and the candidates' "
                                f"features; pass model= and features=")
        measured = measured if measured is not None else pd.DataFrame({"id": []})
        keep = self._eligible(candidates, measured, proposed)
        if not keep.any():
            raise StrategyError(f"no candidate left among {len(candidates)}: all were measured "
                                f"or proposed before; screen a larger library")
        eligible = candidates.loc[keep].reset_index(drop=True)
        ctx = Context(
            sign=Objective(objective).sign,  # type: ignore[arg-type]
            rng=rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng),
            model=model, features=None if features is None else np.asarray(features)[keep],
            measured=measured, measured_features=measured_features)
        picks = self.choose(eligible, min(int(q), len(eligible)), ctx)
        positions = [c.position for c in picks]
        if len(set(positions)) != len(positions):
            raise AssertionError(f"strategy {self.name!r} picked a candidate twice")
        out = eligible.iloc[positions].reset_index(drop=True)
        out["acquisition"] = [c.acquisition for c in picks]
        out["reason"] = [c.reason for c in picks]
        out["rank"] = np.arange(1, len(out) + 1)
        return out

    @staticmethod
    def _eligible(candidates: pd.DataFrame, measured: pd.DataFrame,
                  proposed: Collection[str]) -> np.ndarray:
        """Mask of candidates never measured or proposed, first of each id/canonical form."""
        ids = candidates["id"].astype(str)
        blocked = set(map(str, proposed))
        if "id" in measured.columns:
            blocked |= set(measured["id"].astype(str))
        keep = ~ids.isin(blocked) & ~ids.duplicated()
        if "canonical" in candidates.columns:
            canon = candidates["canonical"].astype("string")
            keep &= ~(canon.notna() & canon.duplicated())
            if "canonical" in measured.columns:
                known = set(measured["canonical"].dropna().astype(str))
                keep &= ~canon.isin(known).fillna(False).astype(bool)
        return keep.to_numpy(dtype=bool)


def require_columns(candidates: pd.DataFrame, columns: Collection[str], name: str) -> None:
    """Raise StrategyError if the candidates lack one of ``columns`` (needed by ``name``)."""
    missing = [c for c in columns if c not in candidates.columns]
    if missing:
        raise StrategyError(f"strategy {name!r} needs candidate column(s) "
                            f"{', '.join(missing)}; screen the library first")


def ucb(candidates: pd.DataFrame, sign: float, beta: float) -> np.ndarray:
    """Upper confidence bound of ``sign * y``: ``sign * mean + beta * std`` (``n``)."""
    return (sign * candidates["mean"].to_numpy(np.float64)
            + beta * candidates["std"].to_numpy(np.float64))


def top(values: np.ndarray, k: int, exclude: Collection[int] = ()) -> list[int]:
    """Positions of the ``k`` largest values (ties: lower position first), skipping some."""
    order = np.lexsort((np.arange(len(values)), -np.asarray(values, dtype=np.float64)))
    skip = set(exclude)
    return [int(i) for i in order if int(i) not in skip][:k]


def shortlist(candidates: pd.DataFrame, k: int, sign: float) -> list[int]:
    """Positions of the top ``k`` candidates by the screen's cheap acquisition.

    Uses the ``acquisition`` column when present (the screen's UCB), else UCB with
    ``beta = 2``. Batch strategies run their expensive acquisition on this shortlist.
    """
    if "acquisition" in candidates.columns:
        values = candidates["acquisition"].to_numpy(np.float64)
    else:
        values = ucb(candidates, sign, 2.0)
    return top(values, k)


def check_positive(name: str, **values: float) -> None:
    """Raise StrategyError naming the first parameter that is not a positive number."""
    for key, value in values.items():
        if not isinstance(value, int | float) or not value > 0:
            raise StrategyError(f"strategy {name!r}: {key}={value!r} must be a number > 0")


def check_non_negative(name: str, **values: float) -> None:
    """Raise StrategyError naming the first parameter that is negative or not a number."""
    for key, value in values.items():
        if not isinstance(value, int | float) or not value >= 0:
            raise StrategyError(f"strategy {name!r}: {key}={value!r} must be a number >= 0")


def measured_counts(measured: pd.DataFrame) -> dict[str, int]:
    """Measurements per domain label (empty without a ``domain`` column)."""
    if "domain" not in measured.columns or measured.empty:
        return {}
    return {str(k): int(v) for k, v in measured["domain"].dropna().astype(str)
            .value_counts().items()}
