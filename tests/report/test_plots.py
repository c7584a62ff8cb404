"""Tests of report.plots: what each figure draws, read back from matplotlib."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2t_discovery.report import (
    MAX_DOMAIN_ROWS,
    ReportData,
    best_so_far_figure,
    calibration_figure,
    domain_counts,
    domains_figure,
    parity_figure,
    write_plots,
)

Frames = tuple[pd.DataFrame, pd.DataFrame]
MakeData = Callable[..., ReportData]

HOLDOUT = pd.DataFrame({"y_true": [1.0, 2.0, 3.0, 4.0], "mean": [1.0, 2.0, 4.0, 3.0],
                        "std": [0.5] * 4})


def test_axes_name_the_target_in_words_with_its_unit(make_data: MakeData) -> None:
    data = make_data(holdout=pd.DataFrame({"y_true": [1.0, 2.0], "mean": [1.1, 1.8],
                                           "std": [0.2, 0.2]}))
    fig = best_so_far_figure(data)
    assert fig.axes[0].get_ylabel() == "Thermal conductivity (W/m/K)"
    fig = parity_figure(data)
    assert fig.axes[0].get_xlabel() == "measured: Thermal conductivity (W/m/K)"
    assert fig.axes[0].get_ylabel() == "predicted: Thermal conductivity (W/m/K), ±1 std"


def test_best_so_far_is_initial_best_then_one_step_per_round(make_data: MakeData) -> None:
    fig = best_so_far_figure(make_data(reference_best=6.0))
    ax = fig.axes[0]
    (best,) = [ln for ln in ax.lines if ln.get_gid() == "best_so_far"]
    # rounds 0, 1, 2 end after 2, 4, 5 measurements: no point inside the initial data
    assert best.get_xdata().tolist() == [2.0, 4.0, 5.0]
    assert best.get_ydata().tolist() == [3.0, 5.0, 5.0]
    assert best.get_drawstyle() == "steps-post"
    boundaries = sorted(ln.get_xdata()[0] for ln in ax.lines if ln.get_gid() == "round_boundary")
    assert boundaries == [2.5, 4.5]
    (star,) = [ln for ln in ax.lines if ln.get_label().startswith("initial best")]
    assert (star.get_xdata().tolist(), star.get_ydata().tolist()) == ([2.0], [3.0])
    assert star.get_label() == "initial best (3)"
    top = [a for a in fig.axes[0].child_axes]
    assert [t.get_text() for t in top[0].get_xticklabels()] == ["init", "1", "2"]


def test_minimize_steps_down_and_a_campaign_without_initial_data_has_no_star(
        frames: Frames) -> None:
    m, p = frames
    m = m.assign(round=[1, 1, 2, 2, 3])
    fig = best_so_far_figure(ReportData("c", "band_gap_gga", "eV", "minimize", m, p))
    ax = fig.axes[0]
    (best,) = [ln for ln in ax.lines if ln.get_gid() == "best_so_far"]
    assert best.get_ydata().tolist() == [1.0, 1.0, 1.0]
    assert not [ln for ln in ax.lines if ln.get_label().startswith("initial best")]


def test_domain_heatmap_shows_the_counts_in_order(frames: Frames) -> None:
    m = pd.DataFrame({"material_id": list("abcdefg"), "value": np.arange(7.0),
                      "round": [0, 0, 0, 1, 1, 2, 2],
                      "domain": ["10", "2", "2", "13", "3", "10", "(none)"]})
    fig = domains_figure(ReportData("c", "y", "u", "maximize", m, frames[1]))
    ax = fig.axes[0]
    (image,) = ax.images  # a heatmap, not stacked bars
    assert not ax.patches
    assert np.ma.filled(image.get_array(), 0).tolist() == domain_counts(m).to_numpy().tolist()
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "2  (2)", "10  (2)", "3  (1)", "13  (1)", "(none)  (1)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["initial", "1", "2"]


def test_domain_heatmap_folds_the_tail_into_one_row(frames: Frames) -> None:
    n = MAX_DOMAIN_ROWS + 5
    m = pd.DataFrame({"material_id": [f"m{i}" for i in range(n)],
                      "value": np.arange(n, dtype=float), "round": 0,
                      "domain": [str(i) for i in range(n)]})
    ax = domains_figure(ReportData("c", "y", "u", "maximize", m, frames[1])).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == MAX_DOMAIN_ROWS
    assert labels[-1] == "other (6 domains)  (6)"


def test_parity_legend_scores_each_held_back_set(make_data: MakeData) -> None:
    legend = [t.get_text() for t in parity_figure(make_data(holdout=HOLDOUT)).axes[0]
              .get_legend().get_texts()]
    # proposals c, d, e: measured 2, 5, 4, predicted 2, 3, 4 -> R² = 1 - 4/(14/3), ρ = 0.5
    assert legend == ["proposed, then measured\nn=3, RMSE=1.155, R²=0.143, Spearman ρ=0.5",
                      "never measured (held back)\nn=4, RMSE=0.7071, R²=0.6, Spearman ρ=0.8"]


def test_calibration_draws_one_curve_per_held_back_set(make_data: MakeData,
                                                        frames: Frames) -> None:
    ax = calibration_figure(make_data(holdout=HOLDOUT)).axes[0]
    assert [ln.get_label() for ln in ax.lines] == [
        "ideal", "proposed, then measured (n=3)", "never measured (held back) (n=4)"]
    # |z| of the proposals 0, 2, 0 and of the holdout 0, 0, 2, 2: the widest level drawn
    # (95%, half-width 1.96) holds the zeros only
    assert ax.lines[1].get_ydata() == pytest.approx([2 / 3] * 19)
    assert ax.lines[2].get_ydata() == pytest.approx([0.5] * 19)
    m, p = frames
    empty = calibration_figure(ReportData("c", "y", "u", "maximize", m, p.iloc[:0])).axes[0]
    assert [t.get_text() for t in empty.texts] == ["no held-back data yet"]


def test_write_plots_writes_the_pngs_in_page_order(make_data: MakeData, tmp_path: Path) -> None:
    names = write_plots(make_data(), tmp_path)
    assert names == ("best_so_far.png", "domains.png", "parity.png", "calibration.png")
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
