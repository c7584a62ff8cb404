"""Joint posterior draws shared by the draw-based strategies (``thompson``, ``domain-bayes``).

:func:`sample_joint` draws from a given mean and covariance (exact, any rank);
:func:`landmark_draws` draws over a long shortlist without forming its ``n x n``
covariance; :func:`pool_posterior` asks the model (or the screen's marginals) for the
moments of a shortlist.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .base import Context

__all__ = ["LANDMARKS", "landmark_draws", "pool_posterior", "sample_joint"]

#: Landmarks of :func:`landmark_draws` when a strategy does not say.
LANDMARKS = 256


def sample_joint(mean: np.ndarray, cov: np.ndarray, n: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` samples (``n x k``) from ``N(mean, cov)``; a singular ``cov`` is fine.

    Uses the symmetric eigendecomposition with negative eigenvalues (round-off) set to 0,
    since a Bayesian linear head's covariance has rank at most embedding width + 1.
    """
    w, V = np.linalg.eigh((cov + cov.T) / 2)
    root = V * np.sqrt(np.clip(w, 0.0, None))
    return mean[None, :] + rng.standard_normal((n, len(mean))) @ root.T


def pool_posterior(candidates: pd.DataFrame, pool: list[int],
                   ctx: Context) -> tuple[np.ndarray, np.ndarray, bool]:
    """Mean ``k`` and covariance ``k x k`` of the candidates at ``pool``, and whether joint.

    The model's joint posterior when ``ctx`` has the model and features; else independent
    normals from the frame's ``mean`` and ``std`` (``joint`` False).
    """
    if ctx.model is not None and ctx.features is not None:
        mean, cov = ctx.model.posterior(ctx.features[pool])
        return np.asarray(mean, float), np.asarray(cov, float), True
    std = candidates["std"].to_numpy(float)[pool]
    return candidates["mean"].to_numpy(float)[pool], np.diag(std**2), False


def landmark_draws(posterior: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                   X: np.ndarray, n: int, rank: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` joint samples (``n x k``) over ``X`` without a ``k x k`` covariance.

    The first ``rank`` rows of ``X`` are landmarks, drawn exactly from their joint
    posterior. Every other row is drawn from its conditional given the landmarks' draw,
    ``N(m_x + C_xZ C_ZZ^-1 (f_Z - m_Z), c_xx - C_xZ C_ZZ^-1 C_Zx)``, independently of the
    other non-landmarks (a Nyström / FITC-type approximation): marginal variances, the
    landmarks' joint and every covariance with a landmark are exact; two non-landmarks
    are correlated only through the landmarks, so a group of look-alikes unlike any
    landmark is drawn as if independent (its maximum spreads wider than it should).
    ``posterior`` is asked about ``2 * rank`` rows at a time, so the cost is
    ``O(k * rank)`` kernel entries instead of ``O(k^2)``.

    Args:
        posterior: ``rows -> (mean, covariance)`` of the model's joint posterior.
        X: ``k x d`` inputs, landmarks first (put the most promising rows first).
        n: Number of draws.
        rank: Number of landmarks.
        rng: Random generator.
    """
    k = len(X)
    if k <= rank:
        mean, cov = posterior(X)
        return sample_joint(np.asarray(mean, float), np.asarray(cov, float), n, rng)
    landmarks = X[:rank]
    out = np.empty((n, k))
    inv_zz = dev = None
    for start in range(rank, k, rank):
        mean, cov = posterior(np.concatenate([landmarks, X[start:start + rank]]))
        mean, cov = np.asarray(mean, float), np.asarray(cov, float)
        if inv_zz is None:  # the landmarks' block is the same in every call
            c_zz = cov[:rank, :rank]
            out[:, :rank] = sample_joint(mean[:rank], c_zz, n, rng)
            dev = out[:, :rank] - mean[:rank]
            inv_zz = np.linalg.pinv((c_zz + c_zz.T) / 2, rcond=1e-10, hermitian=True)
        c_xz = cov[rank:, :rank]
        gain = c_xz @ inv_zz  # C_xZ C_ZZ^-1
        rest = np.clip(np.diag(cov)[rank:] - (gain * c_xz).sum(1), 0.0, None)
        stop = start + len(c_xz)
        out[:, start:stop] = (mean[rank:][None, :] + dev @ gain.T
                              + rng.standard_normal((n, len(c_xz))) * np.sqrt(rest))
    return out
