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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import norm

from e2t_discovery.exceptions import E2TError

if TYPE_CHECKING:
    from e2t_discovery.campaign import Campaign

__all__ = [
    "ReportData",
    "best_so_far",
    "prospective_predictions",
    "round_summary",
    "interval_coverage",
    "write_report",
    "campaign_report_data",
    "holdout_predictions",
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


# --------------------------------------------------------------------------- plots


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _label(data: ReportData) -> str:
    return f"{data.property} ({data.unit})" if data.unit else data.property


def plot_best_so_far(data: ReportData, path: Path) -> None:
    """Best value so far vs. number of measurements, seed data shaded."""
    plt = _pyplot()
    m = data.measurements
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    values = m["value"].to_numpy(dtype=float)
    x = np.arange(1, len(values) + 1)
    if len(values):
        best, _ = best_so_far(values, data.objective, data.target_range)
        ax.scatter(x, values, s=9, color="0.65", label="measured value", zorder=2)
        ax.step(x, best, where="post", color="C0", lw=2, label="best so far", zorder=3)
        n_seed = int((m["round"] == 0).sum())
        if n_seed:
            ax.axvspan(0.5, n_seed + 0.5, color="C2", alpha=0.12,
                       label=f"initial data ({n_seed})")
    if data.reference_best is not None:
        ax.axhline(data.reference_best, color="C3", ls="--", lw=1,
                   label="best in the table")
    ax.set_xlabel("measurements")
    ax.set_ylabel(_label(data))
    ax.set_title("Best so far")
    ax.legend(loc="best", fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _held_back(data: ReportData) -> list[tuple[str, pd.DataFrame]]:
    sets = [("proposed, then measured",
             prospective_predictions(data.measurements, data.proposals))]
    if data.holdout is not None and len(data.holdout):
        sets.append(("never measured (held back)", data.holdout))
    return sets


def plot_parity(data: ReportData, path: Path) -> None:
    """Predicted (±1 std) vs. measured on held-back data."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 5.0), dpi=110)
    lo, hi = math.inf, -math.inf
    colors = {0: "C0", 1: "0.6"}
    for k, (label, pred) in enumerate(_held_back(data)):
        if not len(pred):
            continue
        y, mu, sd = (pred[c].to_numpy(dtype=float) for c in ("y_true", "mean", "std"))
        rmse = float(np.sqrt(np.mean((mu - y) ** 2)))
        ax.errorbar(y, mu, yerr=sd, fmt="o", ms=3, lw=0.6, alpha=0.7 if k == 0 else 0.35,
                    color=colors.get(k, "C1"), zorder=3 - k,
                    label=f"{label}: n={len(y)}, RMSE={rmse:.3g}")
        lo = min(lo, float(np.min(y)), float(np.min(mu - sd)))
        hi = max(hi, float(np.max(y)), float(np.max(mu + sd)))
    if math.isfinite(lo):
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="k", lw=0.8)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "no held-back data yet", ha="center", transform=ax.transAxes)
    ax.set_xlabel(f"measured {_label(data)}")
    ax.set_ylabel(f"predicted {_label(data)} (±1 std)")
    ax.set_title("Parity on held-back data")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


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
    ax.set_title("Interval calibration")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_domains(data: ReportData, path: Path) -> None:
    """Stacked bars: measurements per domain in each round."""
    plt = _pyplot()
    m = data.measurements
    fig, ax = plt.subplots(figsize=(7.0, 4.0), dpi=110)
    if len(m):
        counts = (m.assign(domain=m["domain"].astype(str))
                  .groupby(["round", "domain"]).size().unstack(fill_value=0).sort_index())
        order = counts.sum(axis=0).sort_values(ascending=False).index
        counts = counts[order]
        cmap = plt.get_cmap("tab20")
        bottom = np.zeros(len(counts))
        x = counts.index.to_numpy()
        for i, dom in enumerate(counts.columns):
            h = counts[dom].to_numpy()
            ax.bar(x, h, bottom=bottom, color=cmap(i % 20), label=str(dom), width=0.8)
            bottom += h
        ax.set_xticks(x)
        ax.set_xticklabels([("initial" if r == 0 else str(r)) for r in x], fontsize=8)
        ax.legend(title="domain", fontsize=7, title_fontsize=8, frameon=False,
                  bbox_to_anchor=(1.01, 1), loc="upper left", ncol=1 + len(order) // 16)
    ax.set_xlabel("round")
    ax.set_ylabel("measurements")
    ax.set_title("Measurements per domain per round")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------- html

_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:12px}img{border:1px solid #eee;max-width:100%}"""


def _fmt(v: object) -> str:
    if isinstance(v, float | np.floating):
        return "" if math.isnan(float(v)) else f"{float(v):.4g}"
    return str(v)


def _table(frame: pd.DataFrame, left: tuple[str, ...] = ()) -> str:
    head = "".join(f"<th class='{'l' if c in left else ''}'>{html.escape(str(c))}</th>"
                   for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(
            f"<td class='{'l' if c in left else ''}'>{html.escape(_fmt(v))}</td>"
            for c, v in zip(frame.columns, row, strict=True))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _proposal_table(data: ReportData) -> pd.DataFrame:
    first = data.measurements.drop_duplicates("material_id", keep="first")
    table = data.proposals.merge(first[["material_id", "value"]], on="material_id",
                                 how="left").rename(columns={"value": "measured"})
    cols = ["round", "material_id", "domain", "strategy", "mean", "std", "acquisition",
            "measured", "status"]
    extra = [c for c in ("reason",) if c in table.columns]
    return table[cols + extra].sort_values(["round", "acquisition"],
                                           ascending=[True, False])


def write_report(data: ReportData, out_dir: str | Path) -> Path:
    """Write ``index.html`` and its PNG plots into ``out_dir``.

    Args:
        data: What to report.
        out_dir: Folder to write (created if missing; files in it are overwritten).

    Returns:
        Path of the written ``index.html``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = {
        "best_so_far.png": plot_best_so_far,
        "parity.png": plot_parity,
        "calibration.png": plot_calibration,
        "domains.png": plot_domains,
    }
    for fname, fn in plots.items():
        fn(data, out / fname)
    summary = round_summary(data.measurements, data.proposals, data.objective,
                            data.target_range)
    summary = summary.rename(columns={"batch_rmse": "RMSE on batch",
                                      "batch_coverage95": "95% interval coverage"})
    goal = data.objective + (f" {data.target_range}" if data.target_range else "")
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in data.notes)
    imgs = "".join(f"<img src='{f}' alt='{f[:-4]}'>" for f in plots)
    page = f"""<!doctype html><html><head><meta charset='utf-8'>
<title>e2t report: {html.escape(data.name)}</title><style>{_CSS}</style></head><body>
<h1>Campaign {html.escape(data.name)}</h1>
<p>Target: <b>{html.escape(_label(data))}</b>, goal: {html.escape(goal)}.
{len(data.measurements)} measurements, {len(data.proposals)} proposals,
{data.measurements['domain'].nunique()} domains measured.</p>{notes}
<h2>Rounds</h2>{_table(summary, left=("best_id", "best_domain"))}
<h2>Plots</h2><div class='grid'>{imgs}</div>
<h2>Proposals</h2>{_table(_proposal_table(data), left=("material_id", "domain", "strategy",
                                                       "status", "reason"))}
</body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


# --------------------------------------------------------------------------- campaigns


def campaign_report_data(campaign: Campaign, *, holdout: pd.DataFrame | None = None,
                         reference_best: float | None = None,
                         notes: tuple[str, ...] = ()) -> ReportData:
    """Read a campaign's measurements and proposals into :class:`ReportData`.

    Args:
        campaign: An open campaign.
        holdout: Optional held-back predictions (see :class:`ReportData`).
        reference_best: Optional best value known to exist.
        notes: Lines shown at the top of the page.
    """
    cfg = campaign.config
    m = campaign.store.measurements(cfg.target.property)
    measurements = pd.DataFrame({
        "material_id": m["material_id"].astype(str), "value": m["value"].astype(float),
        "round": m["round"].astype(int), "domain": m["domain"].fillna("(none)").astype(str)})
    p = campaign.store.proposals()
    proposals = p[["round", "material_id", "strategy", "mean", "std", "acquisition",
                   "domain", "status", "reason"]].copy()
    proposals["domain"] = proposals["domain"].fillna("(none)").astype(str)
    obj = cfg.objective
    target_range = (obj.low, obj.high) if obj.direction == "range" else None
    return ReportData(name=campaign.name, property=cfg.target.property, unit=cfg.target.unit,
                      objective=obj.direction, measurements=measurements.reset_index(drop=True),
                      proposals=proposals.reset_index(drop=True),
                      target_range=target_range,  # type: ignore[arg-type]
                      holdout=holdout, reference_best=reference_best, notes=notes)


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
