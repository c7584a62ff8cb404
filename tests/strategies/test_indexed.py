"""qlognei on one precomputed joint posterior (IndexedJointModel) vs the BoTorch model."""

from __future__ import annotations

import numpy as np
import torch

from e2t_discovery import strategies
from e2t_discovery.strategies import qlognei
from e2t_discovery.strategies._indexed import IndexedJointModel


def test_indexed_model_returns_the_joint_of_the_rows_asked():
    cov = np.array([[1.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 3.0]])
    model = IndexedJointModel(np.array([1.0, 2.0, 3.0]), cov, noise_var=0.1)
    post = model.posterior(torch.tensor([[[2.0], [0.0]]]))
    np.testing.assert_allclose(post.mean.squeeze(-1).numpy(), [[3.0, 1.0]])
    np.testing.assert_allclose(post.mvn.covariance_matrix.numpy()[0],
                               [[3.0, 0.0], [0.0, 1.0]], rtol=1e-5)
    noisy = model.posterior(torch.tensor([[0.0], [1.0]]), observation_noise=True)
    np.testing.assert_allclose(noisy.mvn.covariance_matrix.numpy(),
                               [[1.1, 0.5], [0.5, 2.1]], rtol=1e-5)


def test_qlognei_picks_the_same_batch_on_the_indexed_posterior(fitted, monkeypatch):
    kw = {"model": fitted["model"], "features": fitted["features"],
          "measured": fitted["measured"], "measured_features": fitted["measured_features"],
          "rng": 0}
    strat = strategies.get("qlognei", shortlist=30, mc_samples=64)
    direct = strat.select(fitted["candidates"], 3, **kw)
    monkeypatch.setattr(qlognei, "INDEXED_ABOVE", 10)  # 30 shortlisted: indexed path
    indexed = strat.select(fitted["candidates"], 3, **kw)
    assert indexed["id"].tolist() == direct["id"].tolist()
    np.testing.assert_allclose(indexed["acquisition"], direct["acquisition"], rtol=1e-3)
