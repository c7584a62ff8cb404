"""Baselines share the fit/predict(return_std) interface; the MinMax kernel is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e2t_discovery.exceptions import ModelError, NotFittedError
from e2t_discovery.model.baselines import MinMaxKernel, make_baseline


def test_minmax_kernel_matches_brute_force_on_counts_and_reals() -> None:
    rng = np.random.default_rng(0)
    a = rng.poisson(0.7, size=(7, 30)).astype(float)
    b = rng.poisson(0.7, size=(5, 30)).astype(float)
    b[0] = 0.0
    brute = np.array([[np.minimum(x, z).sum() / np.maximum(x, z).sum()
                       if np.maximum(x, z).sum() > 0 else 1.0 for z in b] for x in a])
    k = MinMaxKernel()
    got = k(torch.tensor(a), torch.tensor(b)).to_dense().detach().numpy()
    np.testing.assert_allclose(got, brute, rtol=1e-12)
    real = k(torch.tensor(a + 0.25), torch.tensor(b + 0.5)).to_dense().detach().numpy()
    brute_real = np.array([[np.minimum(x, z).sum() / np.maximum(x, z).sum() for z in b + 0.5]
                           for x in a + 0.25])
    np.testing.assert_allclose(real, brute_real, rtol=1e-10)
    diag = k(torch.tensor(a), torch.tensor(a), diag=True).detach().numpy()
    np.testing.assert_allclose(diag, 1.0)


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
