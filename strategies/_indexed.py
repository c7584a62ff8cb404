"""A BoTorch model of one fixed joint normal over a candidate table, indexed by row.

Batch acquisition over thousands of shortlisted candidates through the surrogate's own
BoTorch model evaluates a GP posterior for every candidate set the optimizer tries
(``optimize_acqf_discrete`` tries every choice at every one of the ``q`` steps). The
joint posterior over the table does not change during one batch, so it is computed once
(``model.posterior`` over shortlist and baseline) and the acquisition indexes into it:
inputs are row indices as ``batch x q x 1`` tensors. Same posterior, none of the per-call
kernel work.
"""

from __future__ import annotations

import numpy as np
import torch
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal

from e2t_discovery.model.botorch_base import SingleOutputModel

__all__ = ["IndexedJointModel"]

#: Relative jitter on the covariance diagonal (a low-rank joint covariance is singular).
JITTER = 1e-6


class IndexedJointModel(SingleOutputModel):
    """Fixed joint normal ``N(mean, cov)`` over ``n`` rows; inputs are row indices.

    Args:
        mean: ``n`` latent means.
        cov: ``n x n`` latent covariance.
        noise_var: Observation noise variance (added when ``observation_noise=True``).
    """

    def __init__(self, mean: np.ndarray, cov: np.ndarray, noise_var: float = 0.0) -> None:
        super().__init__()
        self._mean = torch.as_tensor(np.asarray(mean, dtype=np.float64))
        c = torch.as_tensor(np.asarray(cov, dtype=np.float64))
        scale = float(c.diagonal().mean()) if len(c) else 1.0
        eye = torch.eye(len(c), dtype=torch.float64)
        self._cov = (c + c.T) / 2 + JITTER * max(scale, 1e-12) * eye
        self._noise = float(noise_var)

    def posterior(self, X: torch.Tensor, output_indices: list[int] | None = None,
                  observation_noise: bool | torch.Tensor = False,
                  posterior_transform: object = None, **kwargs: object) -> GPyTorchPosterior:
        """Joint normal of the indexed rows (``batch x q x 1`` -> event ``batch x q x 1``)."""
        idx = X[..., 0].long()
        cov = self._cov[idx.unsqueeze(-1), idx.unsqueeze(-2)]
        if observation_noise is True and self._noise > 0:
            cov = cov + self._noise * torch.eye(idx.shape[-1], dtype=cov.dtype)
        return GPyTorchPosterior(MultivariateNormal(self._mean[idx], cov))
