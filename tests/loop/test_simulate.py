"""Tests for the simulated lab and the in-process retrospective loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2t_discovery.exceptions import DataError
from e2t_discovery.loop.adaptation import AdaptPolicy
from e2t_discovery.loop.simulate import (
    LabTable,
    first_hit,
    fraction_found,
    random_first_hit_expectation,
    run_retrospective,
)


def test_lab_table_answers_known_ids_in_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame({"id": [1, 2, 3], "tc": [0.1, np.nan, 0.3]})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    lab = LabTable.from_path(path, "id", "tc")
    ans = lab.answer(["3", "2", "9", "1"])
    assert ans["material_id"].tolist() == ["3", "1"]
    assert ans["value"].tolist() == [0.3, 0.1]
    assert "1" in lab and "2" not in lab and len(lab) == 2


def test_lab_table_rejects_missing_column_and_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match="lacks column 'tc'"):
        LabTable(pd.DataFrame({"id": [1]}), "id", "tc")
    with pytest.raises(DataError, match="does not exist"):
        LabTable.from_path(tmp_path / "none.csv", "id", "tc")


class _MeanModel:
    """Predicts each domain's mean seen so far (global mean for unseen domains)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def fit(self, X, y, groups=None):  # type: ignore[no-untyped-def]
        self.X, self.y = np.asarray(X), np.asarray(y, dtype=float)
        self.calls.append("fit")
        return self

    def predict(self, X, return_std=False):  # type: ignore[no-untyped-def]
        mean = np.full(len(X), self.y.mean())
        return (mean, np.ones(len(X))) if return_std else mean

    def condition(self, X, y):  # type: ignore[no-untyped-def]
        self.y = np.concatenate([self.y, y])
        self.calls.append("condition")
        return self

    def adapt(self, X, y, groups=None, steps=100, lr=1e-4):  # type: ignore[no-untyped-def]
        self.y = np.concatenate([self.y, y])
        self.calls.append("adapt")
        return self


def _by_feature(model, X_pool, mean, std, domains, measured, q, rng, X_measured):  # type: ignore[no-untyped-def]
    return np.argsort(-X_pool[:, 0])[:q]


def test_retrospective_measures_budget_without_repeats_and_finds_targets() -> None:
    n = 50
    X = np.arange(n, dtype=float)[:, None]
    y = X[:, 0].copy()
    domains = np.array([str(i // 10) for i in range(n)])
    trace = run_retrospective(_MeanModel, _by_feature, X, y, domains, np.arange(5),
                              budget=12, batch=5, seed=0)
    assert len(trace.order) == 12 and len(set(trace.order)) == 12
    assert trace.rounds == [1] * 5 + [2] * 5 + [3] * 2
    assert trace.order[:3] == [49, 48, 47]
    assert first_hit(trace.order, {47}) == 3
    assert fraction_found(trace.order, {49, 0, 47, 30}, budget=12) == 0.5
    assert len(trace.batch_rmse) == 3


def test_retrospective_adapt_conditions_and_fine_tunes_on_threshold() -> None:
    n = 40
    X = np.arange(n, dtype=float)[:, None]
    domains = np.array(["a"] * 20 + ["b"] * 20)
    made: list[_MeanModel] = []

    def make() -> _MeanModel:
        made.append(_MeanModel())
        return made[-1]

    trace = run_retrospective(make, _by_feature, X, X[:, 0], domains, np.arange(10),
                              budget=6, batch=2, seed=0, update="adapt",
                              policy=AdaptPolicy(threshold=3))
    assert len(made) == 1
    # rounds: +2 in b (cond), +2 in b -> 4 >= 3 (adapt), +2 (cond)
    assert made[0].calls == ["fit", "condition", "adapt", "condition"]
    assert trace.fine_tunes == [2]


def test_random_first_hit_expectation_matches_simulation() -> None:
    rng = np.random.default_rng(1)
    draws = [int(np.flatnonzero(rng.permutation(100) < 4)[0]) + 1 for _ in range(4000)]
    assert np.mean(draws) == pytest.approx(random_first_hit_expectation(100, 4), rel=0.05)
    with pytest.raises(DataError, match="n_targets must be positive"):
        random_first_hit_expectation(10, 0)
