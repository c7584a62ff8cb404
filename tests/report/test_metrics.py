"""Tests of report.metrics on hand-computable frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2t_discovery.exceptions import E2TError
from e2t_discovery.report import (
    best_so_far,
    domain_counts,
    goodness,
    interval_coverage,
    prediction_metrics,
    prospective_predictions,
    round_summary,
)

Frames = tuple[pd.DataFrame, pd.DataFrame]


def test_best_so_far_follows_objective() -> None:
    values = np.array([1.0, 3.0, 2.0, 5.0, 0.5])
    best, arg = best_so_far(values, "maximize")
    assert best.tolist() == [1.0, 3.0, 3.0, 5.0, 5.0]
    assert arg.tolist() == [0, 1, 1, 3, 3]
    best, _ = best_so_far(values, "minimize")
    assert best.tolist() == [1.0, 1.0, 1.0, 1.0, 0.5]
    best, _ = best_so_far(values, "range", (2.5, 3.5))
    assert best.tolist() == [1.0, 3.0, 3.0, 3.0, 3.0]


def test_goodness_of_range_is_minus_distance_and_needs_the_range() -> None:
    assert goodness(np.array([1.0, 3.0, 4.0]), "range", (2.5, 3.5)).tolist() == [-1.5, 0.0,
                                                                                  -0.5]
    with pytest.raises(E2TError, match="objective 'range' needs target_range"):
        goodness(np.array([1.0]), "range")


def test_round_summary_counts_best_and_batch_rmse(frames: Frames) -> None:
    m, p = frames
    s = round_summary(m, p, "maximize")
    assert s["round"].tolist() == [0, 1, 2]
    assert s["measurements"].tolist() == [2, 4, 5]
    assert s["best"].tolist() == [3.0, 5.0, 5.0]
    assert s["best_domain"].tolist() == ["y", "z", "z"]
    assert np.isnan(s["batch_rmse"].iloc[0])
    # round 1: errors 0 and -2 -> sqrt(2); round 2: error 0
    assert s["batch_rmse"].iloc[1] == pytest.approx(np.sqrt(2.0))
    assert s["batch_rmse"].iloc[2] == pytest.approx(0.0)


def test_prospective_predictions_only_measured_proposals(frames: Frames) -> None:
    m, p = frames
    pred = prospective_predictions(m, p)
    assert pred["material_id"].tolist() == ["c", "d", "e"]
    assert pred["y_true"].tolist() == [2.0, 5.0, 4.0]


def test_interval_coverage_on_known_z_scores() -> None:
    pred = pd.DataFrame({"mean": [0.0, 0.0, 0.0, 0.0], "std": [1.0] * 4,
                         "y_true": [0.5, -1.5, 2.5, 0.0]})
    cov = interval_coverage(pred, [0.6827, 0.9545, 0.999])
    assert cov.tolist() == pytest.approx([0.5, 0.75, 1.0])


def test_prediction_metrics_on_hand_computed_values() -> None:
    pred = pd.DataFrame({"y_true": [1.0, 2.0, 3.0, 4.0], "mean": [1.0, 2.0, 4.0, 3.0]})
    s = prediction_metrics(pred)
    assert s["n"] == 4
    assert s["rmse"] == pytest.approx(np.sqrt(0.5))
    assert s["r2"] == pytest.approx(1 - 2 / 5)  # SS_res 2, SS_tot 5
    assert s["spearman"] == pytest.approx(0.8)  # 1 - 6*2 / (4*15)
    worse = prediction_metrics(pred.assign(mean=[4.0, 3.0, 2.0, 1.0]))
    assert worse["r2"] == pytest.approx(1 - 20 / 5) and worse["spearman"] == pytest.approx(-1)
    one = prediction_metrics(pred.head(1))
    assert np.isnan(one["r2"]) and np.isnan(one["spearman"])
    flat = prediction_metrics(pred.assign(mean=2.0))
    assert np.isnan(flat["spearman"]) and not np.isnan(flat["r2"])


def test_domain_counts_sorted_by_first_round_then_natural_order() -> None:
    m = pd.DataFrame({"material_id": list("abcdefg"), "value": np.arange(7.0),
                      "round": [0, 0, 0, 1, 1, 2, 2],
                      "domain": ["10", "2", "2", "13", "3", "10", "(none)"]})
    counts = domain_counts(m)
    assert counts.index.tolist() == ["2", "10", "3", "13", "(none)"]
    assert counts.columns.tolist() == [0, 1, 2]
    assert counts.loc["2"].tolist() == [2, 0, 0]
    assert counts.loc["10"].tolist() == [1, 0, 1]
