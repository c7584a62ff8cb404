"""Campaign metrics: pure functions on the report's frames.

The frames (see :mod:`e2t_discovery.report.data`):

- ``measurements``: one row per measurement, columns ``material_id``, ``value``,
  ``round`` (0 = data ingested before the first proposal) and ``domain``; rows in the
  order they were measured.
- ``proposals``: one row per proposal, columns ``round``, ``material_id``, ``strategy``,
  ``mean``, ``std`` (the prediction made when it was proposed, target units),
  ``acquisition``, ``domain`` and ``status``.

Predictions stored with each proposal were made *before* the material was measured, so
joining proposals with their measurements (:func:`prospective_predictions`) gives honest
held-back data.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm, spearmanr

from e2t_discovery.domains import NO_DOMAIN
from e2t_discovery.exceptions import E2TError
from e2t_discovery.objective import Objective

__all__ = [
    "best_so_far",
    "domain_counts",
    "goodness",
    "interval_coverage",
    "prediction_metrics",
    "prospective_predictions",
    "round_summary",
]


def goodness(values: np.ndarray, objective: str,
             target_range: tuple[float, float] | None = None) -> np.ndarray:
    """Map values to a score where larger is better.

    Args:
        values: ``(n,)`` measured values.
        objective: ``maximize``, ``minimize`` or ``range``.
        target_range: ``(low, high)`` for ``range`` (score = minus distance to the range).

    Returns:
        ``(n,)`` float array.
    """
    return np.atleast_1d(_objective(objective, target_range).score(values))


def _objective(objective: str, target_range: tuple[float, float] | None) -> Objective:
    """The report's (direction, range) as the Objective value."""
    if objective == "range" and target_range is None:
        raise E2TError("objective 'range' needs target_range=(low, high)")
    low, high = target_range if objective == "range" else (None, None)  # type: ignore[misc]
    return Objective(objective, low, high)  # type: ignore[arg-type]


def best_so_far(values: np.ndarray, objective: str,
                target_range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the running best value and the index where it was reached.

    Args:
        values: ``(n,)`` measured values in measurement order.
        objective: ``maximize``, ``minimize`` or ``range``.
        target_range: For ``range``.

    Returns:
        ``(best, argbest)``, both ``(n,)``: the best value among the first i+1 values and
        the position of that value.
    """
    return _objective(objective, target_range).best_so_far(values)


def prospective_predictions(measurements: pd.DataFrame,
                            proposals: pd.DataFrame) -> pd.DataFrame:
    """Join each proposal's prediction with the value measured afterwards.

    Args:
        measurements: The measurements frame (first measurement per material is used).
        proposals: The proposals frame.

    Returns:
        One row per measured proposal: ``round``, ``material_id``, ``domain``, ``mean``,
        ``std``, ``y_true``.
    """
    first = measurements.drop_duplicates("material_id", keep="first")
    merged = proposals.merge(first[["material_id", "value"]], on="material_id", how="inner")
    merged = merged.rename(columns={"value": "y_true"})
    cols = ["round", "material_id", "domain", "mean", "std", "y_true"]
    return merged[cols].reset_index(drop=True)


def round_summary(measurements: pd.DataFrame, proposals: pd.DataFrame, objective: str,
                  target_range: tuple[float, float] | None = None) -> pd.DataFrame:
    """Summarize a campaign round by round.

    Args:
        measurements: The measurements frame (rows in measurement order).
        proposals: The proposals frame.
        objective: ``maximize``, ``minimize`` or ``range``.
        target_range: For ``range``.

    Returns:
        One row per round present in ``measurements``: ``round``, ``measurements``
        (cumulative count), ``best`` (best so far), ``best_id``, ``best_domain``,
        ``batch_rmse`` (RMSE of the proposal-time predictions on the materials measured
        in that round; NaN where none were proposed) and ``batch_coverage95``.
    """
    rows = []
    if measurements.empty:
        return pd.DataFrame(columns=["round", "measurements", "best", "best_id",
                                     "best_domain", "batch_rmse", "batch_coverage95"])
    values = measurements["value"].to_numpy(dtype=float)
    best, arg = best_so_far(values, objective, target_range)
    rounds = measurements["round"].to_numpy()
    pred = prospective_predictions(measurements, proposals)
    for r in sorted(set(rounds.tolist())):
        last = int(np.flatnonzero(rounds == r)[-1])
        at = measurements.iloc[int(arg[last])]
        batch = pred[pred["round"] == r]
        rmse = (float(np.sqrt(np.mean((batch["mean"] - batch["y_true"]) ** 2)))
                if len(batch) else math.nan)
        cov = (float(interval_coverage(batch, [0.95])[0]) if len(batch) else math.nan)
        rows.append({"round": int(r), "measurements": last + 1, "best": float(best[last]),
                     "best_id": str(at["material_id"]), "best_domain": str(at["domain"]),
                     "batch_rmse": rmse, "batch_coverage95": cov})
    return pd.DataFrame(rows)


def interval_coverage(pred: pd.DataFrame, levels: list[float] | np.ndarray) -> np.ndarray:
    """Fraction of true values inside the central Gaussian interval of each level.

    Args:
        pred: Frame with ``mean``, ``std``, ``y_true`` (n rows).
        levels: ``(k,)`` nominal coverages in (0, 1).

    Returns:
        ``(k,)`` observed coverages.
    """
    lv = np.asarray(levels, dtype=float)
    if len(pred) == 0:
        return np.full(len(lv), np.nan)
    std = np.maximum(pred["std"].to_numpy(dtype=float), 1e-12)
    z = np.abs(pred["y_true"].to_numpy(dtype=float) - pred["mean"].to_numpy(dtype=float)) / std
    half = norm.ppf(0.5 + lv / 2.0)
    return (z[None, :] <= half[:, None]).mean(axis=1)


def prediction_metrics(pred: pd.DataFrame) -> dict[str, float]:
    """Score predictions against measured values: RMSE, R² and Spearman's rank correlation.

    Args:
        pred: Frame with ``mean`` and ``y_true`` (n rows).

    Returns:
        ``{"n", "rmse", "r2", "spearman"}``. R² is ``1 - SS_res / SS_tot`` of the
        predictions (not of a line fitted to them), so it is negative when the predictions
        are worse than the mean of the measured values. NaN where a score is undefined: R²
        needs n ≥ 2 and varying measured values, Spearman n ≥ 3 and neither side constant.
    """
    y = pred["y_true"].to_numpy(dtype=float)
    mu = pred["mean"].to_numpy(dtype=float)
    n = len(y)
    rmse = float(np.sqrt(np.mean((mu - y) ** 2))) if n else math.nan
    ss_tot = float(np.sum((y - y.mean()) ** 2)) if n else 0.0
    r2 = 1.0 - float(np.sum((mu - y) ** 2)) / ss_tot if n >= 2 and ss_tot > 0 else math.nan
    varies = n >= 3 and np.ptp(y) > 0 and np.ptp(mu) > 0
    rho = float(spearmanr(y, mu).statistic) if varies else math.nan
    return {"n": float(n), "rmse": rmse, "r2": r2, "spearman": rho}


def _natural_key(name: str) -> tuple[int, float, str]:
    """Sort key: numeric names by value first, then other names, ``(none)`` last."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (2 if name == NO_DOMAIN else 1, 0.0, name)


def domain_counts(measurements: pd.DataFrame) -> pd.DataFrame:
    """Count measurements per domain and round, domains in the order they were first measured.

    Args:
        measurements: The measurements frame.

    Returns:
        Integer frame indexed by domain (name ``domain``), one column per round in
        ascending order. Domains first measured in the same round follow the natural order
        of their names (numbers by value).
    """
    m = measurements.assign(domain=measurements["domain"].astype(str))
    counts = m.groupby(["domain", "round"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=sorted(counts.columns))
    first = m.groupby("domain")["round"].min()
    order = sorted(counts.index, key=lambda d: (int(first[d]), *_natural_key(d)))
    counts = counts.loc[order].astype(int)
    counts.index.name = "domain"
    counts.columns.name = "round"
    return counts
