"""Campaign report: per-round summary, matplotlib plots and one HTML page.

Everything here works on plain DataFrames, so the same code reports a live campaign (read
from its store) and a retrospective benchmark. The frames:

- ``measurements``: one row per measurement, columns ``material_id``, ``value``,
  ``round`` (0 = data ingested before the first proposal) and ``domain``; rows in the
  order they were measured.
- ``proposals``: one row per proposal, columns ``round``, ``material_id``, ``strategy``,
  ``mean``, ``std`` (the prediction made when it was proposed, target units),
  ``acquisition``, ``domain`` and ``status``.

Predictions stored with each proposal were made *before* the material was measured, so
joining proposals with their measurements gives honest held-back data for the parity plot
and the interval-calibration curve.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import norm, spearmanr

from e2t_discovery.domains import NO_DOMAIN
from e2t_discovery.exceptions import E2TError

if TYPE_CHECKING:
    from e2t_discovery.loop.campaign import Campaign

__all__ = [
    "ReportData",
    "axis_label",
    "best_so_far",
    "best_so_far_figure",
    "check_out_dir",
    "domain_counts",
    "domains_figure",
    "parity_figure",
    "MAX_DOMAIN_ROWS",
    "prediction_metrics",
    "prospective_predictions",
    "round_summary",
    "interval_coverage",
    "write_report",
    "campaign_report_data",
    "campaign_setup",
    "data_sources",
    "holdout_predictions",
    "quality_table",
    "OBJECTIVES",
]

OBJECTIVES = ("maximize", "minimize", "range")

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
        measurements: See the module docstring.
        proposals: See the module docstring.
        target_range: ``(low, high)`` for the ``range`` objective, else None.
        holdout: Optional extra held-back predictions, columns ``y_true``, ``mean``,
            ``std`` (and optionally ``domain``), e.g. the unmeasured part of a labelled
            table in a simulated campaign.
        reference_best: Optional best value that exists (e.g. the best of a labelled
            table), drawn as a line on the best-so-far plot.
        notes: Free-text lines shown at the top of the page.
        setup: ``(what, value)`` lines of the page's setup table: strategy, model
            settings, data sources (see :func:`campaign_report_data`).
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


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise E2TError(f"{what} frame lacks column(s) {', '.join(missing)}")


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
    v = np.asarray(values, dtype=float)
    if objective == "maximize":
        return v
    if objective == "minimize":
        return -v
    if target_range is None:
        raise E2TError("objective 'range' needs target_range=(low, high)")
    low, high = target_range
    return -np.maximum(0.0, np.maximum(low - v, v - high))


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
    score = goodness(values, objective, target_range)
    v = np.asarray(values, dtype=float)
    best = np.empty(len(v))
    arg = np.empty(len(v), dtype=int)
    cur = -1
    for i, s in enumerate(score):
        if cur < 0 or s > score[cur]:
            cur = i
        best[i] = v[cur]
        arg[i] = cur
    return best, arg


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


# --------------------------------------------------------------------------- plots

#: Words of property names written in capitals on axes (``band_gap_gga`` -> "Band gap GGA").
_ACRONYMS = frozenset({"gga", "hse", "pbe", "dft", "homo", "lumo", "qm", "vdw", "tg"})
#: Most domains shown as heatmap rows; the rest share one "other" row.
MAX_DOMAIN_ROWS = 40


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def axis_label(property: str, unit: str) -> str:
    """Return a property's axis label: words instead of the column name, then the unit.

    ``("thermal_conductivity", "W/m/K")`` gives ``"Thermal conductivity (W/m/K)"``;
    ``("band_gap_gga", "eV")`` gives ``"Band gap GGA (eV)"``.
    """
    words = [w.upper() if w.lower() in _ACRONYMS else w
             for w in re.split(r"[_\s]+", property.strip()) if w]
    text = " ".join(words) or property
    text = text[:1].upper() + text[1:]
    return f"{text} ({unit})" if unit else text


def _label(data: ReportData) -> str:
    return axis_label(data.property, data.unit)


def _save(fig, path: Path) -> None:  # type: ignore[no-untyped-def]
    plt = _pyplot()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def best_so_far_figure(data: ReportData):  # type: ignore[no-untyped-def]
    """Draw the best value after the initial data and after each round.

    The initial data (round 0) have no order, so they are one "initial best" marker at
    their count, not a staircase; the best-so-far line then steps once per round, at
    the dotted round boundaries. Every measured value is a grey point. Returns the
    matplotlib figure (the best line has gid ``best_so_far``, the boundaries
    ``round_boundary``).
    """
    plt = _pyplot()
    m = data.measurements
    fig, ax = plt.subplots(figsize=(9.0, 4.2), dpi=110)
    values = m["value"].to_numpy(dtype=float)
    x = np.arange(1, len(values) + 1)
    if len(values):
        rounds = m["round"].to_numpy()
        seed = rounds == 0
        n_seed = int(seed.sum())
        if data.objective == "range" and data.target_range is not None:
            ax.axhspan(*data.target_range, color="C2", alpha=0.12, label="target range")
        if n_seed:
            ax.axvspan(0.5, n_seed + 0.5, color="0.5", alpha=0.08, lw=0)
            ax.scatter(x[seed], values[seed], s=8, color="0.75", zorder=2,
                       label=f"initial data ({n_seed}, in no order)")
        ax.scatter(x[~seed], values[~seed], s=9, color="0.4", zorder=2,
                   label="measured in a round")
        summary = round_summary(m, data.proposals, data.objective, data.target_range)
        ends = summary["measurements"].to_numpy(dtype=float)
        best = summary["best"].to_numpy(dtype=float)
        numbers = summary["round"].to_numpy()
        ax.step(ends, best, where="post", color="C0", lw=2, zorder=3, gid="best_so_far",
                label="best so far, after each round")
        later = numbers > 0
        ax.plot(ends[later], best[later], "o", color="C0", ms=4, zorder=4)
        if numbers[0] == 0:
            ax.plot(ends[:1], best[:1], marker="*", ms=13, ls="none", color="C1", zorder=5,
                    label=f"initial best ({_fmt(float(best[0]))})")
        for b in ends[:-1] + 0.5:
            ax.axvline(b, color="0.45", lw=0.8, ls=":", zorder=1, gid="round_boundary")
        starts = np.concatenate([[0.0], ends[:-1]])
        every = max(1, math.ceil(len(numbers) / 15))
        keep = [i for i in range(len(numbers)) if numbers[i] == 0 or i % every == 0]
        top = ax.secondary_xaxis("top")
        top.set_xticks([(starts[i] + ends[i]) / 2 + 0.5 for i in keep],
                       ["init" if numbers[i] == 0 else str(numbers[i]) for i in keep],
                       fontsize=8)
        top.tick_params(length=0)
        top.set_xlabel("round", fontsize=9)
        ax.set_xlim(0.5, len(values) + 0.5 + 0.02 * len(values))
    if data.reference_best is not None:
        ax.axhline(data.reference_best, color="C3", ls="--", lw=1,
                   label=f"best in the table ({_fmt(float(data.reference_best))})")
    ax.set_xlabel("measurements (initial data included)")
    ax.set_ylabel(_label(data))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_best_so_far(data: ReportData, path: Path) -> None:
    """Write :func:`best_so_far_figure` as a PNG."""
    _save(best_so_far_figure(data), path)


def _held_back(data: ReportData) -> list[tuple[str, pd.DataFrame]]:
    sets = [("proposed, then measured",
             prospective_predictions(data.measurements, data.proposals))]
    if data.holdout is not None and len(data.holdout):
        sets.append(("never measured (held back)", data.holdout))
    return sets


def _scores_text(scores: dict[str, float]) -> str:
    return (f"n={int(scores['n'])}, RMSE={_fmt(scores['rmse'])}, R²={_fmt(scores['r2'], 3)},"
            f" Spearman ρ={_fmt(scores['spearman'], 3)}")


def parity_figure(data: ReportData):  # type: ignore[no-untyped-def]
    """Draw predicted (±1 std) against measured values on held-back data.

    Each set's legend entry gives n, RMSE, R² and Spearman's ρ
    (:func:`prediction_metrics`). Returns the matplotlib figure.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5.2), dpi=110)
    lo, hi = math.inf, -math.inf
    colors = {0: "C0", 1: "0.6"}
    for k, (label, pred) in enumerate(_held_back(data)):
        if not len(pred):
            continue
        y, mu, sd = (pred[c].to_numpy(dtype=float) for c in ("y_true", "mean", "std"))
        ax.errorbar(y, mu, yerr=sd, fmt="o", ms=3, lw=0.6, alpha=0.7 if k == 0 else 0.35,
                    color=colors.get(k, "C1"), zorder=3 - k,
                    label=f"{label}\n{_scores_text(prediction_metrics(pred))}")
        lo = min(lo, float(np.min(y)), float(np.min(mu - sd)))
        hi = max(hi, float(np.max(y)), float(np.max(mu + sd)))
    if math.isfinite(lo):
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="k", lw=0.8)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.legend(loc="upper left", fontsize=7.5, frameon=True, framealpha=0.85)
    else:
        ax.text(0.5, 0.5, "no held-back data yet", ha="center", transform=ax.transAxes)
    ax.set_xlabel(f"measured: {_label(data)}")
    ax.set_ylabel(f"predicted: {_label(data)}, ±1 std")
    ax.set_title("Parity on held-back data", fontsize=10)
    ax.grid(alpha=0.3)
    return fig


def plot_parity(data: ReportData, path: Path) -> None:
    """Write :func:`parity_figure` as a PNG."""
    _save(parity_figure(data), path)


def plot_calibration(data: ReportData, path: Path) -> None:
    """Observed vs. nominal coverage of central predictive intervals."""
    plt = _pyplot()
    levels = np.linspace(0.05, 0.95, 19)
    fig, ax = plt.subplots(figsize=(5.0, 5.0), dpi=110)
    ax.plot([0, 1], [0, 1], color="k", lw=0.8, label="ideal")
    drawn = False
    for k, (label, pred) in enumerate(_held_back(data)):
        if not len(pred):
            continue
        cov = interval_coverage(pred, levels)
        ax.plot(levels, cov, marker="o", ms=3, color="C0" if k == 0 else "0.5",
                label=f"{label} (n={len(pred)})")
        drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "no held-back data yet", ha="center", transform=ax.transAxes)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("nominal coverage of central interval")
    ax.set_ylabel("observed fraction inside")
    ax.set_title("Interval calibration on held-back data", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def domains_figure(data: ReportData):  # type: ignore[no-untyped-def]
    """Draw a heatmap of measurements per domain (rows) and round (columns).

    Rows follow :func:`domain_counts` (order of first measurement), each cell holds its
    count, empty cells stay white; beyond :data:`MAX_DOMAIN_ROWS` domains the rest share
    one "other" row. Returns the matplotlib figure (the heatmap is ``ax.images[0]``).
    """
    plt = _pyplot()
    m = data.measurements
    counts = domain_counts(m) if len(m) else pd.DataFrame()
    if len(counts) > MAX_DOMAIN_ROWS:
        head, rest = counts.iloc[:MAX_DOMAIN_ROWS - 1], counts.iloc[MAX_DOMAIN_ROWS - 1:]
        other = pd.DataFrame([rest.sum(axis=0)], index=[f"other ({len(rest)} domains)"])
        counts = pd.concat([head, other])
    n_rows, n_cols = max(1, len(counts)), max(1, counts.shape[1])
    fig, ax = plt.subplots(figsize=(min(11.0, 3.2 + 0.42 * n_cols),
                                    min(12.0, 1.6 + 0.24 * n_rows)), dpi=110)
    if len(counts):
        grid = counts.to_numpy(dtype=float)
        shown = np.ma.masked_equal(grid, 0)
        cmap = plt.get_cmap("Blues").with_extremes(bad="white")
        # scaled to the rounds' counts (the initial block would wash them out)
        rounds = grid[:, np.asarray(counts.columns) > 0]
        top = max(1.0, float(rounds.max()) if rounds.size else float(grid.max()))
        ax.imshow(shown, cmap=cmap, aspect="auto", vmin=0, vmax=top, interpolation="nearest")
        for (i, j), v in np.ndenumerate(grid):
            if v:
                ax.text(j, i, str(int(v)), ha="center", va="center", fontsize=7,
                        color="white" if v > 0.6 * top else "black")
        totals = grid.sum(axis=1).astype(int)
        ax.set_yticks(range(len(counts)),
                      [f"{d}  ({t})" for d, t in zip(counts.index, totals, strict=True)],
                      fontsize=7 if len(counts) > 25 else 8)
        ax.set_xticks(range(counts.shape[1]),
                      ["initial" if r == 0 else str(r) for r in counts.columns], fontsize=8)
        ax.set_xticks(np.arange(-0.5, counts.shape[1]), minor=True)
        ax.set_yticks(np.arange(-0.5, len(counts)), minor=True)
        ax.grid(which="minor", color="0.88", lw=0.6)
        ax.tick_params(which="minor", length=0)
    else:
        ax.text(0.5, 0.5, "no measurements yet", ha="center", transform=ax.transAxes)
    ax.set_xlabel("round")
    ax.set_ylabel(f"{data.domain_name}  (measurements)")
    ax.set_title("Measurements per domain and round (domains in order of first measurement)",
                 fontsize=9)
    return fig


def plot_domains(data: ReportData, path: Path) -> None:
    """Write :func:`domains_figure` as a PNG."""
    _save(domains_figure(data), path)


# --------------------------------------------------------------------------- html

_CSS = """body{font-family:system-ui,sans-serif;max-width:1240px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}td{white-space:nowrap}
td.w{white-space:normal;min-width:18em}
table.setup td{text-align:left;white-space:normal}table.setup th{text-align:left;width:9em}
.grid{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
img{border:1px solid #eee;max-width:100%}"""

#: Names of the held-back sets in the page's prediction-quality table.
_SET_NAMES = {"proposed, then measured": "proposals, predicted before they were measured",
              "never measured (held back)": "never measured (held-back table)"}


def _fmt(v: object, digits: int = 4) -> str:
    if isinstance(v, float | np.floating):
        return "" if math.isnan(float(v)) else f"{float(v):.{digits}g}"
    return str(v)


def _table(frame: pd.DataFrame, left: tuple[str, ...] = (), wrap: tuple[str, ...] = ()) -> str:
    head = "".join(f"<th class='{'l' if c in left else ''}'>{html.escape(str(c))}</th>"
                   for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(
            f"<td class='{'l' if c in left else ''}{' w' if c in wrap else ''}'>"
            f"{html.escape(_fmt(v))}</td>"
            for c, v in zip(frame.columns, row, strict=True))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _setup_table(setup: tuple[tuple[str, str], ...]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in setup)
    return f"<h2>Setup</h2><table class='setup'>{rows}</table>" if rows else ""


def _unit(data: ReportData) -> str:
    return f" ({data.unit})" if data.unit else ""


def quality_table(data: ReportData) -> pd.DataFrame:
    """Return n, RMSE, R², Spearman ρ and 90% coverage of each held-back set (page table)."""
    rows = []
    for label, pred in _held_back(data):
        if not len(pred):
            continue
        s = prediction_metrics(pred)
        rows.append({"held-back set": _SET_NAMES.get(label, label), "n": int(s["n"]),
                     f"RMSE{_unit(data)}": s["rmse"], "R²": s["r2"],
                     "Spearman ρ": s["spearman"],
                     "90% interval coverage": float(interval_coverage(pred, [0.9])[0])})
    return pd.DataFrame(rows)


def _proposal_table(data: ReportData) -> pd.DataFrame:
    first = data.measurements.drop_duplicates("material_id", keep="first")
    table = data.proposals.merge(first[["material_id", "value"]], on="material_id",
                                 how="left").rename(columns={"value": "measured"})
    cols = ["round", "material_id", "domain", "strategy", "mean", "std", "acquisition",
            "measured", "status"]
    extra = [c for c in ("reason",) if c in table.columns]
    table = table[cols + extra].sort_values(["round", "acquisition"], ascending=[True, False])
    return table.rename(columns={"material_id": "material", "mean": f"predicted{_unit(data)}",
                                 "std": "std", "measured": f"measured{_unit(data)}"})


def _rounds_table(data: ReportData) -> pd.DataFrame:
    summary = round_summary(data.measurements, data.proposals, data.objective,
                            data.target_range)
    summary["round"] = ["initial" if r == 0 else str(r) for r in summary["round"]]
    return summary.rename(columns={
        "measurements": "measurements so far", "best": f"best so far{_unit(data)}",
        "best_id": "best material", "best_domain": "its domain",
        "batch_rmse": f"RMSE on batch{_unit(data)}",
        "batch_coverage95": "95% interval coverage"})


def check_out_dir(out_dir: str | Path) -> Path:
    """Return the report folder, refusing a path that exists and is not a folder.

    Raises:
        E2TError: if ``out_dir`` is an existing file.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise E2TError(f"report folder {out} is an existing file; pass a folder for "
                       f"index.html and the plots (it is created if missing)")
    return out


def write_report(data: ReportData, out_dir: str | Path) -> Path:
    """Write ``index.html`` and its PNG plots into ``out_dir``.

    Args:
        data: What to report.
        out_dir: Folder to write (created if missing; files in it are overwritten).

    Returns:
        Path of the written ``index.html``.

    Raises:
        E2TError: if ``out_dir`` is a file or cannot be created.
    """
    out = check_out_dir(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise E2TError(f"cannot create report folder {out}: {exc.strerror or exc}; pass a "
                       f"folder you can write") from None
    plots = {
        "best_so_far.png": plot_best_so_far,
        "domains.png": plot_domains,
        "parity.png": plot_parity,
        "calibration.png": plot_calibration,
    }
    for fname, fn in plots.items():
        fn(data, out / fname)
    goal = data.objective + (f" {data.target_range}" if data.target_range else "")
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in data.notes)
    imgs = "".join(f"<img src='{f}' alt='{f[:-4]}'>" for f in plots)
    quality = quality_table(data)
    quality_html = (_table(quality, left=("held-back set",)) if len(quality)
                    else "<p>No held-back data yet.</p>")
    page = f"""<!doctype html><html><head><meta charset='utf-8'>
<title>e2t report: {html.escape(data.name)}</title><style>{_CSS}</style></head><body>
<h1>Campaign {html.escape(data.name)}</h1>
<p>Target: <b>{html.escape(_label(data))}</b>, goal: {html.escape(goal)}.
{len(data.measurements)} measurements, {len(data.proposals)} proposals,
{data.measurements['domain'].nunique()} domains measured.</p>{notes}
{_setup_table(data.setup)}
<h2>Rounds</h2>{_table(_rounds_table(data), left=("round", "best material", "its domain"))}
<h2>Predictions on held-back data</h2>{quality_html}
<h2>Plots</h2><div class='grid'>{imgs}</div>
<h2>Proposals</h2>{_table(_proposal_table(data), left=("material", "domain", "strategy",
                                                       "status", "reason"), wrap=("reason",))}
</body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


# --------------------------------------------------------------------------- campaigns


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


def campaign_setup(campaign: Campaign, *,
                   holdout_source: str | Path | None = None) -> tuple[tuple[str, str], ...]:
    """Describe what produced a campaign's results, for the report's setup table.

    Args:
        campaign: An open campaign.
        holdout_source: The labelled table the held-back predictions come from, if any.

    Returns:
        ``(what, value)`` lines: strategy, model settings and versions, representation,
        domains, data sources, screened libraries and the held-back table.
    """
    cfg = campaign.config
    store = campaign.store
    strategy = f"{cfg.strategy.name}, batch of {cfg.strategy.batch_size}"
    if cfg.strategy.params:
        strategy += f" ({_pairs(cfg.strategy.params)})"
    used = store.proposals()["strategy"].astype(str).value_counts()
    if len(used) and set(used.index) != {cfg.strategy.name}:
        strategy += "; proposals by " + ", ".join(f"{k} ({v})" for k, v in used.items())
    model = _pairs(cfg.model.settings) or "E2TSurrogate defaults"
    model += (f"; fine-tune when a domain reaches {cfg.model.adaptation_threshold} "
              f"measurements")
    versions = store.models()
    if len(versions):
        kinds = versions["kind"].astype(str).value_counts()
        last = versions.iloc[-1]
        trained = (f"{len(versions)} versions ({', '.join(f'{v} {k}' for k, v in kinds.items())});"
                   f" latest v{int(last['version'])} ({last['kind']}) on "
                   f"{int(last['n_measurements'])} measurements")
    else:
        trained = "none trained yet"
    rep = cfg.representation
    representation = f"{rep.kind}, column {rep.input_column}"
    if rep.featurizer:
        representation += f" ({_pairs(rep.featurizer)})"
    dom = cfg.domains
    domains = {"column": f"the values of column {dom.column}",
               "clustering": f"{dom.n_clusters} clusters of the features",
               "elements": f"element groups {dom.element_groups}"}[dom.method]
    runs = store.screen_runs()
    if len(runs):
        libs = runs.groupby("library", sort=False).agg(n=("id", "size"), rows=("n_rows", "max"))
        library = "; ".join(f"{_shown_path(str(k), campaign.dir)} ({int(r.rows)} candidates, "
                            f"screened {int(r.n)}×)" for k, r in libs.iterrows())
    else:
        library = cfg.library.path or "not screened yet"
    setup = [("Strategy", strategy), ("Model settings", model), ("Model versions", trained),
             ("Representation", representation), ("Domains", domains),
             ("Data", data_sources(store.measurements(cfg.target.property), campaign.dir)),
             ("Library", library)]
    if holdout_source is not None:
        setup.append(("Held-back table", str(holdout_source)))
    if cfg.campaign.description:
        setup.insert(0, ("Campaign", cfg.campaign.description))
    return tuple(setup)


def campaign_report_data(campaign: Campaign, *, holdout: pd.DataFrame | None = None,
                         reference_best: float | None = None,
                         notes: tuple[str, ...] = (),
                         holdout_source: str | Path | None = None) -> ReportData:
    """Read a campaign's measurements and proposals into :class:`ReportData`.

    Args:
        campaign: An open campaign.
        holdout: Optional held-back predictions (see :class:`ReportData`).
        reference_best: Optional best value known to exist.
        notes: Lines shown at the top of the page.
        holdout_source: The table ``holdout`` was predicted on (shown in the setup).
    """
    cfg = campaign.config
    m = campaign.store.measurements(cfg.target.property)
    measurements = pd.DataFrame({
        "material_id": m["material_id"].astype(str), "value": m["value"].astype(float),
        "round": m["round"].astype(int), "domain": m["domain"].fillna(NO_DOMAIN).astype(str)})
    p = campaign.store.proposals()
    proposals = p[["round", "material_id", "strategy", "mean", "std", "acquisition",
                   "domain", "status", "reason"]].copy()
    proposals["domain"] = proposals["domain"].fillna(NO_DOMAIN).astype(str)
    obj = cfg.objective
    target_range = (obj.low, obj.high) if obj.direction == "range" else None
    dom = cfg.domains
    domain_name = (axis_label(dom.column, "") if dom.method == "column" and dom.column
                   else {"clustering": "Cluster", "elements": "Element group"}.get(dom.method,
                                                                                 "Domain"))
    return ReportData(name=campaign.name, property=cfg.target.property, unit=cfg.target.unit,
                      objective=obj.direction, measurements=measurements.reset_index(drop=True),
                      proposals=proposals.reset_index(drop=True),
                      target_range=target_range,  # type: ignore[arg-type]
                      holdout=holdout, reference_best=reference_best, notes=notes,
                      setup=campaign_setup(campaign, holdout_source=holdout_source),
                      domain_name=domain_name)


def holdout_predictions(campaign: Campaign, table: pd.DataFrame, id_column: str,
                        value_column: str) -> pd.DataFrame:
    """Predict the never-measured rows of a labelled table with the latest model.

    Args:
        campaign: An open campaign with a model.
        table: Labelled table holding the campaign's input column.
        id_column: Its identifier column.
        value_column: Its column of true values.

    Returns:
        ``id``, ``domain``, ``mean``, ``std``, ``y_true`` for rows with a value whose id
        the campaign never measured.
    """
    measured = set(campaign.store.measurements(campaign.config.target.property)
                   ["material_id"].astype(str))
    rows = table[table[value_column].notna()
                 & ~table[id_column].astype(str).isin(measured)].reset_index(drop=True)
    if rows.empty:
        return pd.DataFrame(columns=["id", "domain", "mean", "std", "y_true"])
    pred = campaign.predict_frame(rows)
    return pd.DataFrame({"id": rows[id_column].astype(str), "domain": pred["domain"],
                         "mean": pred["mean"], "std": pred["std"],
                         "y_true": rows[value_column].astype(float)})
