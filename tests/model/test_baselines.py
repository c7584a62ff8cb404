"""Baselines share the fit/predict(return_std) interface."""

from __future__ import annotations

import numpy as np
import pytest

from e2t_discovery.exceptions import ModelError, NotFittedError
from e2t_discovery.model.baselines import make_baseline


@pytest.mark.parametrize("name,params", [("ridge", {}), ("rf", {"n_estimators": 30}),
                                         ("gp", {"kernel": "rbf"}), ("gp", {"kernel": "minmax"}),
                                         ("mlp", {"hidden": (16,)})])
def test_baselines_fit_predict_interface(name: str, params: dict) -> None:
    rng = np.random.default_rng(1)
    X = rng.poisson(1.0, size=(80, 6)).astype(float)
    y = X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.normal(size=80)
    model = make_baseline(name, **params)
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(X)
    model.fit(X[:60], y[:60], groups=None)
    mean, std = model.predict(X[60:], return_std=True)
    assert mean.shape == std.shape == (20,) and np.all(std > 0)
    rmse = np.sqrt(np.mean((mean - y[60:]) ** 2))
    assert rmse < 0.8 * y[60:].std()  # better than predicting the mean
    np.testing.assert_allclose(model.predict(X[60:]), mean)


def test_unknown_baseline_and_bad_inputs() -> None:
    with pytest.raises(ModelError, match="unknown baseline 'svm'"):
        make_baseline("svm")
    with pytest.raises(ModelError, match="minmax kernel needs non-negative"):
        make_baseline("gp", kernel="minmax").fit(-np.ones((5, 2)), np.arange(5.0))
