"""Closed-form regression heads fitted on support embeddings.

Two heads map embeddings ``phi`` to targets:

- :func:`ridge_fit` / :func:`ridge_predict`: the E2T paper's ridge head,
  ``w = (Phi_S^T Phi_S + lam I)^-1 Phi_S^T y_S`` (optionally with an unpenalized intercept,
  obtained by centering ``Phi_S`` and ``y_S`` on the support means, as scikit-learn does).
- :class:`BayesianLinearHead`: a Bayesian linear regression in embedding space with a
  learned noise variance ``s2`` and prior precision ``alpha`` (log-parametrized through
  ``log s2`` and ``log lam``, ``lam = alpha * s2``, so a fixed ridge penalty is one flag
  away) and a flat prior on the intercept. With ``A = Phi_c^T Phi_c + lam I``
  (``Phi_c`` = centered support embeddings), the weight posterior is
  ``N(A^-1 Phi_c^T y_c, s2 A^-1)``: its mean is exactly the ridge head, and it also gives
  predictive variances, joint covariances and the leverage ``phi_c^T A^-1 phi_c`` (an
  out-of-domain distance).

All operations are differentiable torch ops; the linear algebra runs in float64 through a
Cholesky factor of ``A``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["ridge_fit", "ridge_predict", "HeadPosterior", "BayesianLinearHead"]


def ridge_fit(
    phi: Tensor, y: Tensor, lam: float | Tensor, fit_intercept: bool = True
) -> tuple[Tensor, Tensor]:
    """Fit the closed-form ridge head on support embeddings.

    Args:
        phi: ``n_s x p`` support embeddings.
        y: ``n_s`` support targets.
        lam: Ridge penalty (>0); the intercept is not penalized.
        fit_intercept: Center on the support means and fit an intercept (as scikit-learn's
            ``Ridge(fit_intercept=True)``); False gives the paper's form without intercept.

    Returns:
        ``(w, b)``: ``p`` weights and a scalar intercept (0 when ``fit_intercept=False``),
        in float64.
    """
    phi64, y64 = phi.to(torch.float64), y.to(torch.float64)
    if fit_intercept:
        phi_mean, y_mean = phi64.mean(0), y64.mean()
    else:
        phi_mean = torch.zeros(phi64.shape[1], dtype=torch.float64, device=phi.device)
        y_mean = torch.zeros((), dtype=torch.float64, device=phi.device)
    pc, yc = phi64 - phi_mean, y64 - y_mean
    gram = pc.T @ pc + lam * torch.eye(pc.shape[1], dtype=torch.float64, device=phi.device)
    w = torch.linalg.solve(gram, pc.T @ yc)
    return w, y_mean - phi_mean @ w


def ridge_predict(phi: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """Predict with a fitted ridge head: ``phi @ w + b`` (``m x p`` -> ``m``, float64)."""
    return phi.to(torch.float64) @ w + b


@dataclass
class HeadPosterior:
    """The Bayesian head's posterior given one support set (standardized target units).

    Attributes:
        phi_mean: ``p`` mean of the support embeddings (centering offset).
        y_mean: Scalar mean of the support targets (the intercept's posterior mean).
        w: ``p`` posterior mean of the weights.
        chol: ``p x p`` lower Cholesky factor of ``A = Phi_c^T Phi_c + lam I``.
        noise_var: Scalar observation-noise variance ``s2``.
        n: Number of support points.
    """

    phi_mean: Tensor
    y_mean: Tensor
    w: Tensor
    chol: Tensor
    noise_var: Tensor
    n: int

    def _center(self, phi: Tensor) -> Tensor:
        return phi.to(torch.float64) - self.phi_mean

    def leverage(self, phi: Tensor) -> Tensor:
        """Return ``phi_c^T A^-1 phi_c`` (``m x p`` -> ``m``, >= 0)."""
        v = torch.linalg.solve_triangular(self.chol, self._center(phi).T, upper=False)
        return (v * v).sum(0)

    def mean(self, phi: Tensor) -> Tensor:
        """Return the predictive mean (``m x p`` -> ``m``)."""
        return self._center(phi) @ self.w + self.y_mean

    def latent_var(self, phi: Tensor) -> Tensor:
        """Return the variance of the noise-free prediction (``m x p`` -> ``m``)."""
        return self.noise_var * (self.leverage(phi) + 1.0 / self.n)

    def predictive_var(self, phi: Tensor) -> Tensor:
        """Return the variance of a new observation (``m x p`` -> ``m``)."""
        return self.latent_var(phi) + self.noise_var

    def joint_cov(self, phi: Tensor) -> Tensor:
        """Return the joint covariance of the noise-free predictions (``m x p`` -> ``m x m``).

        Works on any leading batch shape: ``... x m x p`` -> ``... x m x m``.
        """
        pc = self._center(phi)
        v = torch.linalg.solve_triangular(
            self.chol.expand(*pc.shape[:-2], *self.chol.shape), pc.transpose(-1, -2),
            upper=False,
        )
        return self.noise_var * (v.transpose(-1, -2) @ v + 1.0 / self.n)


class BayesianLinearHead(nn.Module):
    """Bayesian linear regression head with learned noise and prior precision.

    Args:
        noise_var: Initial observation-noise variance ``s2`` (standardized target units).
        ridge_penalty: Initial ridge penalty ``lam = alpha * s2`` (``alpha`` = prior
            precision of the weights).
        learn_penalty: If False, ``lam`` stays fixed (the paper's fixed ridge penalty);
            ``s2`` is always a parameter.
    """

    def __init__(
        self, noise_var: float = 0.1, ridge_penalty: float = 1.0, learn_penalty: bool = True
    ) -> None:
        super().__init__()
        self.log_noise_var = nn.Parameter(torch.tensor(math.log(noise_var), dtype=torch.float64))
        self.log_ridge_penalty = nn.Parameter(
            torch.tensor(math.log(ridge_penalty), dtype=torch.float64),
            requires_grad=learn_penalty,
        )

    @property
    def noise_var(self) -> Tensor:
        """Observation-noise variance ``s2`` (scalar tensor)."""
        return self.log_noise_var.exp()

    @property
    def ridge_penalty(self) -> Tensor:
        """The ridge penalty ``lam = alpha * s2`` (scalar tensor)."""
        return self.log_ridge_penalty.exp()

    @property
    def prior_precision(self) -> Tensor:
        """Prior precision ``alpha = lam / s2`` of the weights (scalar tensor)."""
        return (self.log_ridge_penalty - self.log_noise_var).exp()

    def fit(self, phi: Tensor, y: Tensor) -> HeadPosterior:
        """Compute the weight posterior given support embeddings.

        Args:
            phi: ``n_s x p`` support embeddings.
            y: ``n_s`` support targets (standardized units).

        Returns:
            The :class:`HeadPosterior` (differentiable w.r.t. ``phi``, ``y`` and the head's
            parameters).
        """
        phi64, y64 = phi.to(torch.float64), y.to(torch.float64)
        phi_mean, y_mean = phi64.mean(0), y64.mean()
        pc, yc = phi64 - phi_mean, y64 - y_mean
        p = pc.shape[1]
        eye = torch.eye(p, dtype=torch.float64, device=phi.device)
        gram = pc.T @ pc + self.ridge_penalty * eye
        chol = torch.linalg.cholesky(gram)
        w = torch.cholesky_solve((pc.T @ yc).unsqueeze(-1), chol).squeeze(-1)
        return HeadPosterior(phi_mean=phi_mean, y_mean=y_mean, w=w, chol=chol,
                             noise_var=self.noise_var, n=int(phi.shape[0]))

    def loss(self, post: HeadPosterior, phi_q: Tensor, y_q: Tensor, kind: str = "nll") -> Tensor:
        """Return the query loss of a posterior: Gaussian NLL (per point) or MSE.

        Args:
            post: Posterior fitted on the support set.
            phi_q: ``n_q x p`` query embeddings.
            y_q: ``n_q`` query targets (standardized units).
            kind: ``nll`` (mean Gaussian negative log-likelihood with the predictive
                variance) or ``mse``.
        """
        mean = post.mean(phi_q)
        err2 = (mean - y_q.to(torch.float64)) ** 2
        if kind == "mse":
            return err2.mean()
        var = post.predictive_var(phi_q)
        return 0.5 * (torch.log(2 * math.pi * var) + err2 / var).mean()
