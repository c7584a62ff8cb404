"""GP posterior closed forms: the low-rank variance factor and the jittered Cholesky."""

from __future__ import annotations

import torch

from e2t_discovery.model.gp_posterior import cholesky_with_jitter, variance_root


def _gram(n: int = 60, d: int = 3, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return torch.exp(-0.5 * torch.cdist(x, x) ** 2)


def test_variance_root_only_overstates_and_is_exact_at_full_rank() -> None:
    k, noise = _gram(), torch.tensor(0.01, dtype=torch.float64)
    exact_inv = torch.linalg.inv(k + noise * torch.eye(k.shape[0], dtype=k.dtype))
    k_x = k[:, :10]  # cross-covariances of ten support points
    exact = (k_x * (exact_inv @ k_x)).sum(0)
    low = (variance_root(k, noise, 8) @ k_x).pow(2).sum(0)
    assert torch.all(low <= exact + 1e-10)  # less reduction: variances overstated
    full = (variance_root(k, noise, k.shape[0]) @ k_x).pow(2).sum(0)
    torch.testing.assert_close(full, exact, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(variance_root(k, noise, 8), variance_root(k, noise, 8),
                               rtol=0, atol=0)  # seeded: save -> load reproduces it


def test_cholesky_with_jitter_factors_a_singular_gram() -> None:
    k = _gram(n=40, d=1)
    k = torch.cat([k, k[:1]], 0)
    k = torch.cat([k, k[:, :1]], 1)  # a repeated row: singular
    chol = cholesky_with_jitter(k)
    assert torch.isfinite(chol).all() and torch.allclose(chol, chol.tril())
    torch.testing.assert_close(chol @ chol.T, k, rtol=0, atol=1e-4)
    plain = _gram(n=10)
    torch.testing.assert_close(cholesky_with_jitter(plain), torch.linalg.cholesky(plain))


def test_minmax_posterior_through_the_support_index_equals_the_dense_closed_form() -> None:
    """Prediction on counts runs through the support's MinMax index; same numbers."""
    import numpy as np

    from e2t_discovery.model.gp_head import GPHead

    rng = np.random.default_rng(5)
    support = rng.poisson(0.3, size=(80, 50)) * rng.integers(1, 4, size=(80, 50))
    queries = rng.poisson(0.3, size=(30, 50)) * rng.integers(1, 7, size=(30, 50))
    y = torch.tensor(support[:, :8].sum(1) * 0.2, dtype=torch.float64)
    y = (y - y.mean()) / y.std()
    x = torch.tensor(support, dtype=torch.float64)
    head = GPHead(x, base="minmax", phi_kernel="none")
    head.eval()
    post = head.posterior(x, y)
    xq = torch.tensor(queries, dtype=torch.float32)  # float32 counts, as screening passes
    with torch.no_grad():
        assert post._base_cross(xq) is not None  # the index path, not the kernel's
        mean, lvar, prior = post.moments(xq)
    # dense reference: brute-force MinMax blocks, plain linear algebra
    def brute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        mins = np.minimum(a[:, None, :], b[None, :, :]).sum(-1)
        maxs = np.maximum(a[:, None, :], b[None, :, :]).sum(-1)
        return np.where(maxs > 0, mins / np.where(maxs > 0, maxs, 1), 1.0)

    scale = float(head.base_k.outputscale.detach())
    noise = float(head.noise_var.detach())
    k_ss = scale * brute(support, support) + noise * np.eye(len(support))
    k_sq = scale * brute(support, queries)
    resid = y.numpy() - float(head.mean_constant.detach())
    want_mean = float(head.mean_constant.detach()) + k_sq.T @ np.linalg.solve(k_ss, resid)
    want_var = scale - (k_sq * np.linalg.solve(k_ss, k_sq)).sum(0)
    np.testing.assert_allclose(mean.numpy(), want_mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lvar.numpy(), want_var, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(prior.numpy(), scale, rtol=1e-12)
