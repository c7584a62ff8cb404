"""``logei``: BoTorch's analytic LogExpectedImprovement over the best measured value.

When to use: a principled single-point acquisition, sharper than UCB when a clear
incumbent exists, with no parameter to tune. Analytic EI needs only each candidate's
marginal posterior: with ``model`` and ``features`` it is evaluated through the
surrogate's BoTorch adapter; without, on the screen's mean and std through a BoTorch
model of those fixed marginals. The batch is the top ``q`` by LogEI (independent picks).
Needs measured values (the incumbent).
"""

from __future__ import annotations

import pandas as pd
import torch
from botorch.acquisition.analytic import LogExpectedImprovement
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal

from e2t_discovery.exceptions import StrategyError
from e2t_discovery.model.botorch_base import SingleOutputModel

from ._botorch import as_tensor, botorch_model
from .base import Choice, Context, Strategy, top

__all__ = ["LogEI", "MarginalModel"]


class MarginalModel(SingleOutputModel):
    """A BoTorch model of fixed independent normal marginals, indexed by candidate.

    Inputs are candidate indices as ``batch x q x 1`` tensors.

    Args:
        mean: ``n`` means.
        std: ``n`` standard deviations (variances are floored at 1e-12).
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self._mean, self._var = mean, (std**2).clamp_min(1e-12)

    def posterior(self, X: torch.Tensor, output_indices: list[int] | None = None,
                  observation_noise: bool | torch.Tensor = False,
                  posterior_transform: object = None, **kwargs: object) -> GPyTorchPosterior:
        """Independent normal posterior of the indexed candidates (event ``batch x q x 1``)."""
        idx = X[..., 0].long()
        return GPyTorchPosterior(MultivariateNormal(self._mean[idx],
                                                    torch.diag_embed(self._var[idx])))


class LogEI(Strategy):
    """Analytic log expected improvement."""

    name = "logei"
    uses_model = True

    def acquisition_column(self, objective: str) -> tuple[str, float] | None:
        """``log_ei``: log of the expected improvement on the best measured value (either
        direction: an improvement is a decrease when minimizing)."""
        return ("log_ei", 1.0)

    def choose(self, candidates: pd.DataFrame, q: int, ctx: Context) -> list[Choice]:
        """Return the ``q`` largest LogEI values."""
        best = ctx.best_measured()
        if best is None:
            raise StrategyError("strategy 'logei' needs measured values (column 'value' of "
                                "measured) to know the incumbent; ingest results first")
        maximize = ctx.sign > 0
        incumbent = best if maximize else -best
        if ctx.model is not None and ctx.features is not None:
            model = botorch_model(ctx.model, self.name)
            X = as_tensor(ctx.features).unsqueeze(-2)
        else:
            model = MarginalModel(as_tensor(candidates["mean"].to_numpy(float)),
                                  as_tensor(candidates["std"].to_numpy(float)))
            X = torch.arange(len(candidates), dtype=torch.float64).reshape(-1, 1, 1)
        acqf = LogExpectedImprovement(model, best_f=incumbent, maximize=maximize)
        with torch.no_grad():
            values = torch.cat([acqf(X[i:i + 4096]) for i in range(0, len(X), 4096)]).numpy()
        return [Choice(i, float(values[i]), f"top LogEI over incumbent {incumbent:.4g}")
                for i in top(values, q)]
