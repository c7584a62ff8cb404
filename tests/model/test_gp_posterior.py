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
