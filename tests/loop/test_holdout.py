"""Tests of loop.holdout: which rows of a labelled table the report's held-back set gets."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from e2t_discovery.loop.holdout import holdout_predictions


class _Campaign:
    """The three things holdout_predictions uses: config, store, predict_frame."""

    def __init__(self, measured: list[str]) -> None:
        self.config = SimpleNamespace(target=SimpleNamespace(property="tc"))
        self.store = SimpleNamespace(
            measurements=lambda prop: pd.DataFrame({"material_id": measured}))
        self.predicted: list[pd.DataFrame] = []

    def predict_frame(self, rows: pd.DataFrame) -> pd.DataFrame:
        self.predicted.append(rows)
        return pd.DataFrame({"domain": ["d"] * len(rows), "mean": rows["x"] * 2.0,
                             "std": 0.1})


def test_only_labelled_rows_never_measured_are_predicted() -> None:
    table = pd.DataFrame({"id": [1, 2, 3, 4], "x": [1.0, 2.0, 3.0, 4.0],
                          "tc": [10.0, None, 30.0, 40.0]})
    campaign = _Campaign(measured=["3"])
    held = holdout_predictions(campaign, table, "id", "tc")  # type: ignore[arg-type]
    assert held.columns.tolist() == ["id", "domain", "mean", "std", "y_true"]
    assert held["id"].tolist() == ["1", "4"]  # 2 has no value, 3 was measured
    assert held["mean"].tolist() == [2.0, 8.0] and held["y_true"].tolist() == [10.0, 40.0]
    assert campaign.predicted[0]["id"].tolist() == [1, 4]


def test_a_table_all_measured_gives_an_empty_frame_without_predicting() -> None:
    table = pd.DataFrame({"id": ["a"], "x": [1.0], "tc": [1.0]})
    campaign = _Campaign(measured=["a"])
    held = holdout_predictions(campaign, table, "id", "tc")  # type: ignore[arg-type]
    assert held.empty and held.columns.tolist() == ["id", "domain", "mean", "std", "y_true"]
    assert not campaign.predicted
