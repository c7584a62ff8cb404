"""BoTorch adapter: expose the E2T joint predictive as a ``botorch.models.model.Model``.

Acquisition functions (analytic and Monte Carlo) only call ``Model.posterior(X)``; this
adapter answers with a :class:`~botorch.posteriors.gpytorch.GPyTorchPosterior` whose
multivariate normal has the Bayesian head's mean and *joint* covariance (ensemble
moment-matched), so batch acquisition functions see correlations between candidates.
X are descriptor tensors (for polymers: the featurized candidates), ``batch x q x d``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from botorch.acquisition.objective import PosteriorTransform
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from torch import Tensor

from e2t_discovery.exceptions import ModelError
from e2t_discovery.model.botorch_base import SingleOutputModel

if TYPE_CHECKING:
    from e2t_discovery.model.surrogate import E2TSurrogate

__all__ = ["E2TBoTorchModel"]

#: Relative jitter added to the latent covariance diagonal: a Bayesian linear head on
#: ``p``-dimensional embeddings has a rank-``p + 1`` latent covariance, so ``q > p + 1``
#: candidates would otherwise have a singular covariance.
JITTER = 1e-6


class E2TBoTorchModel(SingleOutputModel):
    """A single-output BoTorch model backed by a fitted :class:`E2TSurrogate`.

    Args:
        surrogate: A fitted surrogate with ``encoder="mlp"``.

    Raises:
        ModelError: if the surrogate uses the graph encoder (BoTorch needs tensors).
    """

    def __init__(self, surrogate: E2TSurrogate) -> None:
        super().__init__()
        if surrogate.config.encoder != "mlp":
            raise ModelError("to_botorch needs encoder='mlp'; BoTorch candidates are "
                             "descriptor tensors, not crystal graphs")
        self.surrogate = surrogate

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: PosteriorTransform | None = None,
        **kwargs: Any,
    ) -> GPyTorchPosterior:
        """Joint predictive over ``X``.

        Args:
            X: ``batch x q x d`` (or ``q x d``) raw descriptors.
            output_indices: Must be None or ``[0]``.
            observation_noise: False for the latent function, True to add the head's
                noise variance, or a ``batch x q x 1`` tensor of noise variances to add.
            posterior_transform: Optional transform applied to the posterior.

        Returns:
            A ``GPyTorchPosterior`` with event shape ``batch x q x 1``.
        """
        if output_indices not in (None, [0]):
            raise ModelError(f"output_indices={output_indices}: this model has one output")
        squeeze = X.dim() == 2
        x = X.unsqueeze(0) if squeeze else X
        mean, cov = self.surrogate.joint_posterior_torch(x)
        mean, cov = mean.to(X), cov.to(X)
        q = cov.shape[-1]
        eye = torch.eye(q, dtype=cov.dtype, device=cov.device)
        noise_var = self.surrogate.noise_std**2
        cov = cov + JITTER * noise_var * eye
        if isinstance(observation_noise, Tensor):
            cov = cov + torch.diag_embed(observation_noise.to(cov).reshape(*mean.shape))
        elif observation_noise:
            cov = cov + noise_var * eye
        if squeeze:
            mean, cov = mean.squeeze(0), cov.squeeze(0)
        posterior = GPyTorchPosterior(MultivariateNormal(mean, cov))
        if posterior_transform is not None:
            return posterior_transform(posterior)
        return posterior
