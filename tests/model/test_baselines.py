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


@pytest.mark.parametrize("kernel", ["rbf", "minmax"])
def test_gp_baseline_joint_posterior_feeds_botorch_strategies(kernel: str) -> None:
    import pandas as pd
    import torch

    from e2t_discovery import strategies
    from e2t_discovery.model.protocol import JointPosterior

    rng = np.random.default_rng(2)
    X = rng.poisson(1.0, size=(60, 5)).astype(float)
    X[:, 4] = 3.0  # a constant column: dropped by the RBF GP, kept by MinMax
    y = X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.normal(size=60)
    gp = make_baseline("gp", kernel=kernel).fit(X[:40], y[:40])
    assert isinstance(gp, JointPosterior)
    mean, cov = gp.posterior(X[40:])
    p_mean, p_std = gp.predict(X[40:], return_std=True)
    np.testing.assert_allclose(mean, p_mean, atol=1e-9)
    np.testing.assert_allclose(np.diag(cov) + gp.noise_std**2, p_std**2, rtol=1e-6)
    post = gp.to_botorch().posterior(torch.as_tensor(X[40:]))
    np.testing.assert_allclose(post.mean.squeeze(-1).detach().numpy(), mean, atol=1e-9)
    np.testing.assert_allclose(post.distribution.covariance_matrix.detach().numpy(), cov,
                               atol=1e-9)
    frame = pd.DataFrame({"id": [str(i) for i in range(20)], "mean": p_mean, "std": p_std})
    measured = pd.DataFrame({"id": ["m"], "value": [float(y[:40].max())]})
    out = strategies.get("qlognei").select(frame, 3, model=gp, features=X[40:],
                                           measured=measured, measured_features=X[:40], rng=0)
    assert len(out) == 3 and out["id"].is_unique
