"""BoTorch acquisition functions evaluate on the E2T adapter."""

from __future__ import annotations

import numpy as np
import torch
from botorch.acquisition import LogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.posteriors.gpytorch import GPyTorchPosterior

from e2t_discovery.model import E2TSurrogate


def test_acquisition_functions_evaluate_on_adapter() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 5))
    y = X[:, 0] - 0.5 * X[:, 1] ** 2 + 0.05 * rng.normal(size=120)
    groups = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0).astype(int)
    surrogate = E2TSurrogate(head="bayes", steps=30, hidden=(16,), n_support=48, n_query=16,
                             ensemble=2, device="cpu").fit(X, y, groups, progress=False)
    model = surrogate.to_botorch()
    cand = torch.tensor(rng.normal(size=(6, 1, 5)), dtype=torch.float64)

    post = model.posterior(cand[:, 0, :])
    assert isinstance(post, GPyTorchPosterior)
    mean, cov = surrogate.posterior(cand[:, 0, :].numpy())
    np.testing.assert_allclose(post.mean.squeeze(-1).detach().numpy(), mean, rtol=1e-6)
    noisy = model.posterior(cand[:, 0, :], observation_noise=True)
    np.testing.assert_allclose((noisy.variance - post.variance).squeeze(-1).detach().numpy(),
                               surrogate.noise_std**2, rtol=1e-6)

    ei = LogExpectedImprovement(model, best_f=float(y.max()))(cand)
    assert ei.shape == (6,) and torch.isfinite(ei).all()
    # The candidate with the highest mean + std has a top-3 EI.
    assert int(torch.argmax(ei)) in set(np.argsort(-(mean + np.sqrt(np.diag(cov))))[:3])

    qnei = qLogNoisyExpectedImprovement(model, X_baseline=torch.tensor(X[:20]),
                                        prune_baseline=False)
    batch = torch.tensor(rng.normal(size=(4, 3, 5)))
    values = qnei(batch)
    assert values.shape == (4,) and torch.isfinite(values).all()
