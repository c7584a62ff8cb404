"""The GP head's posterior given one support set: closed forms in float64.

Everything runs through the Cholesky factor ``L`` of ``K_SS + s2 I``: mean
``m + K_xS alpha`` with cached ``alpha = (K_SS + s2 I)^-1 (y - m)``, latent variance
``k(x, x) - |L^-1 K_Sx|^2``, or, for large support sets, ``k(x, x) - |R K_Sx|^2`` with the
low-rank factor ``R`` of :func:`variance_root` (the role of GPyTorch's LOVE cache). The
kernel and the noise are the head's (:class:`~e2t_discovery.model.gp_head.GPHead`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from e2t_discovery.model.gp_head import GPHead

__all__ = ["GPPosterior", "cholesky_with_jitter", "variance_root"]

_JITTER = 1e-8


@dataclass
class GPPosterior:
    """The head's posterior given one support set (standardized target units, float64).

    Attributes:
        head: The head whose kernel and noise it uses.
        x: ``n x d`` support inputs (raw).
        chol: ``n x n`` lower Cholesky factor of ``K_SS + s2 I``.
        alpha: ``n`` vector ``(K_SS + s2 I)^-1 (y - m)``.
        embedding: ``n x p`` learned embeddings of the support (None without phi).
        var_rank: Rank of the variance factor :attr:`root` (0: variances exact).
    """

    head: GPHead
    x: Tensor
    chol: Tensor
    alpha: Tensor
    embedding: Tensor | None = None
    var_rank: int = 0
    _root: Tensor | None = field(default=None, init=False, repr=False)

    @property
    def root(self) -> Tensor | None:
        """``r x n`` factor ``R`` with ``R^T R ~ (K_SS + s2 I)^-1`` (see :func:`variance_root`).

        None when ``var_rank`` is 0 or the support holds at most ``4 * var_rank`` rows (the
        variances of :meth:`moments` are then exact). Built on first use, so
        conditioning stays one factorization.
        """
        n = self.chol.shape[-1]
        if self.var_rank <= 0 or 4 * self.var_rank >= n:
            return None
        if self._root is None:
            eye = torch.eye(n, dtype=self.chol.dtype, device=self.chol.device)
            k = self.chol @ self.chol.T - self.noise_var.detach() * eye
            self._root = variance_root(k, self.noise_var.detach(), self.var_rank)
        return self._root

    @property
    def noise_var(self) -> Tensor:
        """Observation-noise variance ``s2`` (scalar tensor)."""
        return self.head.noise_var

    def _cross(self, x: Tensor, e: Tensor | None) -> Tensor:
        return self.head.gram(self.x, x, e1=self.embedding, e2=e)  # n x m

    def mean(self, x: Tensor) -> Tensor:
        """Predictive mean (``m x d`` -> ``m``)."""
        k_sx = self._cross(x, self.head.embed(x))
        return self.head.mean_constant + k_sx.transpose(-1, -2) @ self.alpha

    def moments(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, latent variance and prior variance of ``m x d`` inputs (each ``m``)."""
        e = self.head.embed(x)
        k_sx = self._cross(x, e)
        mean = self.head.mean_constant + k_sx.transpose(-1, -2) @ self.alpha
        root = self.root
        if root is None:
            v = torch.linalg.solve_triangular(self.chol, k_sx, upper=False)
        else:
            v = root @ k_sx
        prior = self.head.diag(x, e=e)
        return mean, (prior - (v * v).sum(0)).clamp_min(1e-12), prior

    def joint_cov(self, x: Tensor) -> Tensor:
        """Latent joint covariance: ``... x q x d`` -> ``... x q x q``."""
        batch, q = x.shape[:-2], x.shape[-2]
        flat = x.reshape(-1, x.shape[-1])
        v = torch.linalg.solve_triangular(self.chol, self._cross(flat, self.head.embed(flat)),
                                          upper=False)
        v = v.reshape(v.shape[0], *batch, q).movedim(0, -1)  # ... x q x n
        return self.head.gram(x, x) - v @ v.transpose(-1, -2)


def variance_root(k: Tensor, noise_var: Tensor, rank: int) -> Tensor:
    """Low-rank factor for predictive variances (the role of LOVE's cache).

    With ``K = U diag(lam) U^T``, ``k_x^T (K + s2 I)^-1 k_x = sum_i (u_i^T k_x)^2 /
    (lam_i + s2)``; a cross-covariance ``k_x`` of the kernel lies mostly in the span of the
    top eigenvectors, so keeping the top ``rank`` terms costs ``rank x n`` per candidate
    instead of ``n x n`` and only ever *overstates* the variance (the dropped terms are
    >= 0). Top eigenpairs by a seeded randomized SVD (deterministic, so save -> load
    reproduces it).

    Args:
        k: ``n x n`` noise-free support Gram (PSD).
        noise_var: Noise variance ``s2``.
        rank: Number of eigenpairs kept.

    Returns:
        ``rank x n`` factor ``R`` with variance reduction ``|R k_x|^2``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        u, lam, _ = torch.svd_lowrank(k, q=min(rank + 16, k.shape[-1]), niter=3)
    u, lam = u[:, :rank], lam[:rank]
    return (u / (lam + noise_var).sqrt()).T


def cholesky_with_jitter(k: Tensor) -> Tensor:
    """Cholesky factor with growing jitter when ``k`` is numerically indefinite."""
    jitter = 0.0
    eye = torch.eye(k.shape[-1], dtype=k.dtype, device=k.device)
    scale = float(k.diagonal(dim1=-2, dim2=-1).mean().detach()) if k.numel() else 1.0
    for _ in range(6):
        chol, info = torch.linalg.cholesky_ex(k + jitter * eye)
        if not bool((info != 0).any()):
            return chol
        jitter = max(jitter * 10, _JITTER * scale)
    return torch.linalg.cholesky(k + jitter * eye)
