"""The ridge head equals scikit-learn's Ridge; the Bayesian head is a consistent posterior."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from e2t_discovery.model.head import BayesianLinearHead, ridge_fit, ridge_predict


@pytest.fixture
def embeddings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    phi = rng.normal(size=(40, 6)) + 2.0
    y = phi @ rng.normal(size=6) + 1.5 + 0.1 * rng.normal(size=40)
    return phi, y, rng.normal(size=(9, 6))


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("lam", [0.01, 1.0, 30.0])
def test_ridge_head_equals_sklearn_ridge(embeddings, fit_intercept: bool, lam: float) -> None:
    phi, y, phi_q = embeddings
    w, b = ridge_fit(torch.tensor(phi), torch.tensor(y), lam, fit_intercept=fit_intercept)
    ref = Ridge(alpha=lam, fit_intercept=fit_intercept, solver="cholesky").fit(phi, y)
    np.testing.assert_allclose(w.numpy(), ref.coef_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(float(b), ref.intercept_, rtol=1e-9, atol=1e-10)
    pred = ridge_predict(torch.tensor(phi_q), w, b).numpy()
    np.testing.assert_allclose(pred, ref.predict(phi_q), rtol=1e-9, atol=1e-10)


def test_bayesian_head_mean_is_ridge_and_cov_is_consistent(embeddings) -> None:
    phi, y, phi_q = embeddings
    head = BayesianLinearHead(noise_var=0.3, ridge_penalty=2.0)
    post = head.fit(torch.tensor(phi), torch.tensor(y))
    ref = Ridge(alpha=2.0, solver="cholesky").fit(phi, y)
    q = torch.tensor(phi_q)
    np.testing.assert_allclose(post.mean(q).detach().numpy(), ref.predict(phi_q), rtol=1e-9)
    cov = post.joint_cov(q).detach().numpy()
    np.testing.assert_allclose(np.diag(cov), post.latent_var(q).detach().numpy(), rtol=1e-10)
    assert np.all(np.linalg.eigvalsh(cov) > -1e-12)
    # Leverage against the explicit inverse: phi_c^T (Phi_c^T Phi_c + lam I)^-1 phi_c.
    pc = phi - phi.mean(0)
    a_inv = np.linalg.inv(pc.T @ pc + 2.0 * np.eye(6))
    qc = phi_q - phi.mean(0)
    np.testing.assert_allclose(post.leverage(q).detach().numpy(),
                               np.einsum("ij,jk,ik->i", qc, a_inv, qc), rtol=1e-9)
    var = post.predictive_var(q).detach().numpy()
    np.testing.assert_allclose(var - np.diag(cov), 0.3, rtol=1e-9)
    # Far from the support the leverage (out-of-domain distance) grows.
    far = torch.tensor(phi_q * 50.0)
    assert post.leverage(far).min() > post.leverage(torch.tensor(phi)).max()


def test_bayesian_head_learns_noise_by_nll_gradient(embeddings) -> None:
    phi, y, _ = embeddings
    head = BayesianLinearHead(noise_var=5.0, ridge_penalty=1.0)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        post = head.fit(torch.tensor(phi[:30]), torch.tensor(y[:30]))
        loss = head.loss(post, torch.tensor(phi[30:]), torch.tensor(y[30:]), "nll")
        loss.backward()
        opt.step()
    assert float(head.noise_var.detach()) < 0.5  # true noise variance is 0.01
    fixed = BayesianLinearHead(ridge_penalty=3.0, learn_penalty=False)
    assert not fixed.log_ridge_penalty.requires_grad
    assert float(fixed.ridge_penalty) == pytest.approx(3.0)
