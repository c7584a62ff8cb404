"""Report figures (matplotlib, Agg backend) and their PNG files.

Each ``*_figure`` function draws one figure from :class:`ReportData` and returns it open;
each ``plot_*`` function writes it as a PNG and closes it; :func:`write_plots` writes all
of them into a folder.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from e2t_discovery.report.data import ReportData
from e2t_discovery.report.labels import fmt
from e2t_discovery.report.metrics import (
    domain_counts,
    interval_coverage,
    prediction_metrics,
    round_summary,
)

__all__ = [
    "MAX_DOMAIN_ROWS",
    "PLOTS",
    "best_so_far_figure",
    "calibration_figure",
    "domains_figure",
    "parity_figure",
    "plot_best_so_far",
    "plot_calibration",
    "plot_domains",
    "plot_parity",
    "write_plots",
]

#: Most domains shown as heatmap rows; the rest share one "other" row.
MAX_DOMAIN_ROWS = 40


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


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
                    label=f"initial best ({fmt(float(best[0]))})")
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
                   label=f"best in the table ({fmt(float(data.reference_best))})")
    ax.set_xlabel("measurements (initial data included)")
    ax.set_ylabel(data.target_label())
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_best_so_far(data: ReportData, path: Path) -> None:
    """Write :func:`best_so_far_figure` as a PNG."""
    _save(best_so_far_figure(data), path)


def _scores_text(scores: dict[str, float]) -> str:
    return (f"n={int(scores['n'])}, RMSE={fmt(scores['rmse'])}, R²={fmt(scores['r2'], 3)},"
            f" Spearman ρ={fmt(scores['spearman'], 3)}")


def parity_figure(data: ReportData):  # type: ignore[no-untyped-def]
    """Draw predicted (±1 std) against measured values on held-back data.

    Each set's legend entry gives n, RMSE, R² and Spearman's ρ
    (:func:`prediction_metrics`). Returns the matplotlib figure.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5.2), dpi=110)
    lo, hi = math.inf, -math.inf
    colors = {0: "C0", 1: "0.6"}
    for k, (label, pred) in enumerate(data.held_back()):
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
    ax.set_xlabel(f"measured: {data.target_label()}")
    ax.set_ylabel(f"predicted: {data.target_label()}, ±1 std")
    ax.set_title("Parity on held-back data", fontsize=10)
    ax.grid(alpha=0.3)
    return fig


def plot_parity(data: ReportData, path: Path) -> None:
    """Write :func:`parity_figure` as a PNG."""
    _save(parity_figure(data), path)


def calibration_figure(data: ReportData):  # type: ignore[no-untyped-def]
    """Draw observed against nominal coverage of central predictive intervals.

    One curve per held-back set (:meth:`ReportData.held_back`). Returns the matplotlib
    figure.
    """
    plt = _pyplot()
    levels = np.linspace(0.05, 0.95, 19)
    fig, ax = plt.subplots(figsize=(5.0, 5.0), dpi=110)
    ax.plot([0, 1], [0, 1], color="k", lw=0.8, label="ideal")
    drawn = False
    for k, (label, pred) in enumerate(data.held_back()):
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
    return fig


def plot_calibration(data: ReportData, path: Path) -> None:
    """Write :func:`calibration_figure` as a PNG."""
    _save(calibration_figure(data), path)


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


#: The page's plots: file name -> function writing it, in the order the page shows them.
PLOTS = {
    "best_so_far.png": plot_best_so_far,
    "domains.png": plot_domains,
    "parity.png": plot_parity,
    "calibration.png": plot_calibration,
}


def write_plots(data: ReportData, out_dir: Path) -> tuple[str, ...]:
    """Write every plot of :data:`PLOTS` into ``out_dir`` (an existing folder).

    Returns:
        The file names written, in page order.
    """
    for fname, fn in PLOTS.items():
        fn(data, out_dir / fname)
    return tuple(PLOTS)
