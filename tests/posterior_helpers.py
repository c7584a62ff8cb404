"""Constructed posteriors for strategy tests: a surrogate whose joint posterior is given."""

from __future__ import annotations

import numpy as np

__all__ = ["FixedPosterior", "correlated"]


class FixedPosterior:
    """A surrogate whose joint posterior is given: features are candidate indices.

    ``posterior(X)`` returns ``mean[X]`` and ``cov[X, X]`` for ``X`` an ``n x 1`` array
    of indices into the given mean and covariance (what a strategy asks of the model);
    ``asked`` records how many rows each call asked about.
    """

    def __init__(self, mean: np.ndarray, cov: np.ndarray) -> None:
        self.mean, self.cov = np.asarray(mean, float), np.asarray(cov, float)
        self.asked: list[int] = []

    def posterior(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.asked.append(len(X))
        idx = np.asarray(X, dtype=int)[:, 0]
        return self.mean[idx], self.cov[np.ix_(idx, idx)]


def correlated(n: int, std: float, rho: float) -> np.ndarray:
    """``n x n`` covariance with equal variances ``std**2`` and correlation ``rho``."""
    return std**2 * ((1 - rho) * np.eye(n) + rho * np.ones((n, n)))
