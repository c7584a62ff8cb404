"""Affine model transfer: target = a . f_s(x) + b + GP residual (Minami, Fukumizu, Hayashi et al.).

With ``g_j(x)`` the source model ``j``'s latent mean, standardized by that source's own
scale, and the target standardized by its training labels::

    (y - y_mean) / y_std = w . g(x) + c + r(x) + noise,   r ~ GP(0, s_r * k_r(x, x'))

``w``, ``c``, ``s_r`` and the noise are fitted together by exact marginal likelihood on the
target rows (BoTorch ``SingleTaskGP`` whose inputs are ``[x, g(x)]``: the mean is linear in
the ``g`` columns, the kernel sees only ``x``), with weak Normal(0, 1) priors on ``w`` and
``c`` (in standardized units an exact copy of the source has ``|w|`` about 1) and a
LogNormal prior on ``s_r``. The residual kernel ``k_r`` is the source model's own fitted
kernel (the best-correlated source), frozen: its lengthscales and learned embedding come
from the abundant source rows, so a handful of target labels only have to set its scale.
In target units ``a_j = w_j y_std / s_j`` and ``b = y_mean + c y_std - a . m_s``
(:meth:`AffineTransfer.info`). The source's own uncertainty enters the prediction:
``var = y_std^2 (var_r + sum_j w_j^2 var_j / s_j^2)``.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import gpytorch
import numpy as np
import torch
from gpytorch.kernels import ScaleKernel
from gpytorch.priors import LogNormalPrior, NormalPrior
from torch import Tensor

from e2t_discovery.model.transfer.base import FrozenKernel, TransferModel, fit_mll
from e2t_discovery.model.transfer.source import SourceModel, best_source

__all__ = ["AffineMean", "AffineTransfer"]

#: Prior of the residual kernel's scale (standardized target units): median 0.1, so the
#: affine part explains the target unless the labels say otherwise; wide (x/e^1.5).
RESIDUAL_PRIOR = (math.log(0.1), 1.5)


class AffineMean(gpytorch.means.Mean):
    """``w . x[..., d:] + c``: a linear mean on the last ``p`` input columns.

    Args:
        d: Leading input columns it ignores (the material's descriptors).
        p: Trailing columns it weights (the standardized source predictions).
    """

    def __init__(self, d: int, p: int) -> None:
        super().__init__()
        self.d = d
        self.register_parameter("weight", torch.nn.Parameter(torch.zeros(p, dtype=torch.float64)))
        self.register_parameter("bias", torch.nn.Parameter(torch.zeros((), dtype=torch.float64)))
        self.register_prior("weight_prior", NormalPrior(0.0, 1.0), "weight")
        self.register_prior("bias_prior", NormalPrior(0.0, 1.0), "bias")

    def forward(self, x: Tensor) -> Tensor:
        """Mean of ``... x n x (d + p)`` inputs (``... x n``)."""
        return x[..., self.d:] @ self.weight + self.bias


class AffineTransfer(TransferModel):
    """Affine transfer of a fitted source model (see the module docstring)."""

    method = "affine"
    adapt_mode = "refit"

    def __init__(self, source: SourceModel, kernel_source: int = 0,
                 residual: bool = True) -> None:
        super().__init__(source)
        self.kernel_source = kernel_source
        self.residual = residual
        self.gp: Any = None

    # ------------------------------------------------------------------ building
    def _g(self, X: np.ndarray) -> np.ndarray:
        """Standardized source latent means ``n x p``."""
        mean, _ = self.source.predict(X)
        m, s = self.source.scales()
        return (mean - m) / s

    def _build(self, X: np.ndarray, ys: np.ndarray) -> Any:
        from botorch.models import SingleTaskGP

        d, p = self.source.n_features, self.source.n_sources
        train_x = torch.as_tensor(np.concatenate([X, self._g(X)], 1))
        train_y = torch.as_tensor(ys).unsqueeze(-1)
        if self.residual:
            kernel = ScaleKernel(FrozenKernel(self.source.kernel(self.kernel_source)),
                                 outputscale_prior=LogNormalPrior(*RESIDUAL_PRIOR),
                                 active_dims=torch.arange(d))
            kernel.outputscale = math.exp(RESIDUAL_PRIOR[0])
        else:  # no residual: a (nearly) zero kernel, the mean carries the model
            kernel = ScaleKernel(FrozenKernel(self.source.kernel(self.kernel_source)),
                                 active_dims=torch.arange(d))
            kernel.outputscale = 1e-6
            kernel.raw_outputscale.requires_grad_(False)
        likelihood = gpytorch.likelihoods.GaussianLikelihood(
            noise_prior=LogNormalPrior(-4.0, 1.0),
            noise_constraint=gpytorch.constraints.GreaterThan(1e-4))
        likelihood.noise = 0.05
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # input-scaling advice does not apply
            gp = SingleTaskGP(train_x, train_y, likelihood=likelihood, covar_module=kernel,
                              mean_module=AffineMean(d, p), outcome_transform=None)
        return gp.to(torch.float64)

    def fit(self, X: np.ndarray, y: np.ndarray) -> AffineTransfer:
        """Fit ``w``, ``c``, the residual scale and the noise on target rows ``(X, y)``."""
        X, y = self.check_X(X), self.check_y(y, np.asarray(X).shape[0])
        self.set_scale(y)
        ys = (y - self.y_mean) / self.y_std
        g = self._g(X)
        self.kernel_source = best_source(g, ys)
        self.gp = self._build(X, ys)
        # start from the ridge least-squares affine fit (penalty = the Normal(0, 1) prior)
        design = np.concatenate([g, np.ones((g.shape[0], 1))], 1)
        coef = np.linalg.solve(design.T @ design + 0.05 * np.eye(design.shape[1]),
                               design.T @ ys)
        with torch.no_grad():
            self.gp.mean_module.weight.copy_(torch.as_tensor(coef[:-1]))
            self.gp.mean_module.bias.fill_(float(coef[-1]))
        fit_mll(self.gp)
        self.X, self.y = X, y
        return self

    # ------------------------------------------------------------------ inference
    def joint_with_prior(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Latent joint posterior and prior variance in target units.

        ``b x q x d`` -> mean ``b x q``, covariance ``b x q x q``, prior variance ``b x q``
        (the residual's prior variance plus the same source part as the posterior).
        """
        x = x.to(torch.float64)
        f_mean, f_cov = self.source.joint_torch(x)  # p x b x q, p x b x q x q
        m, s = (torch.as_tensor(v, dtype=torch.float64) for v in self.source.scales())
        g = (f_mean - m[:, None, None]) / s[:, None, None]
        aug = torch.cat([x, g.permute(1, 2, 0)], -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mvn = self.gp(aug)  # latent posterior (eval mode)
            prior = self.gp.covar_module(aug, diag=True)
        w2 = (self.gp.mean_module.weight / s) ** 2
        source_cov = (w2[:, None, None, None] * f_cov).sum(0)
        cov = mvn.covariance_matrix + source_cov
        prior = prior + source_cov.diagonal(dim1=-2, dim2=-1)
        return (self.y_mean + self.y_std * mvn.mean, self.y_std**2 * cov,
                self.y_std**2 * prior)

    def joint(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Latent joint posterior in target units (``b x q x d`` -> ``b x q``, ``b x q x q``)."""
        mean, cov, _ = self.joint_with_prior(x)
        return mean, cov

    # ------------------------------------------------------------------ Surrogate protocol
    def predict_with_distance(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, std and distance; without a residual the distance is the source's."""
        if self.residual:
            return super().predict_with_distance(X)
        mean, std = self.predict(X, return_std=True)
        return mean, std, self._kernel_surrogate.domain_distance(self.check_X(X))

    def out_of_domain(self, X: Any, distance: np.ndarray | None = None) -> np.ndarray:
        """Above 0.5 of the prior variance; without a residual: the source's own rule."""
        if self.residual:
            return super().out_of_domain(X, distance)
        return self._kernel_surrogate.out_of_domain(self.check_X(X), distance)

    @property
    def _kernel_surrogate(self) -> Any:
        return self.source.models[self.kernel_source]

    def adapt(self, X: Any, y: Any, groups: Any = None, *, steps: int = 100,
              lr: float = 1e-4) -> AffineTransfer:
        """Refit ``a``, ``b``, the residual scale and the noise on all target rows."""
        X = self.check_X(X)
        y = self.check_y(y, X.shape[0])
        return self.fit(np.concatenate([self.X, X]), np.concatenate([self.y, y]))

    @property
    def noise_var(self) -> float:
        """Target noise variance (target units squared)."""
        return float(self.gp.likelihood.noise.detach().reshape(-1)[0]) * self.y_std**2

    def _condition(self, X: np.ndarray, y: np.ndarray) -> None:
        new_x = torch.as_tensor(np.concatenate([X, self._g(X)], 1))
        new_y = torch.as_tensor((y - self.y_mean) / self.y_std)
        self.gp.set_train_data(torch.cat([self.gp.train_inputs[0], new_x]),
                               torch.cat([self.gp.train_targets, new_y]), strict=False)

    def info(self) -> dict[str, Any]:
        """``a`` (target units per source unit), ``b``, the residual and noise stds."""
        m, s = self.source.scales()
        w = self.gp.mean_module.weight.detach().numpy()
        a = w * self.y_std / s
        b = self.y_mean + float(self.gp.mean_module.bias.detach()) * self.y_std - float(a @ m)
        resid = float(self.gp.covar_module.outputscale.detach()) if self.residual else 0.0
        return {"a": a.tolist(), "b": b, "kernel_source": self.source.names[self.kernel_source],
                "residual_std": math.sqrt(resid) * self.y_std,
                "noise_std": math.sqrt(self.noise_var), "n_target": int(self.y.size)}

    # ------------------------------------------------------------------ persistence
    def _save_state(self, out: Path) -> dict[str, Any]:
        from safetensors.torch import save_file

        state = {f"gp.{k}": v.detach().clone().contiguous()
                 for k, v in self.gp.state_dict().items()}
        state["X"] = torch.tensor(np.array(self.X)).contiguous()
        state["y"] = torch.tensor(np.array(self.y)).contiguous()
        save_file(state, str(out / "affine.safetensors"))
        return {"kernel_source": self.kernel_source, "residual": self.residual}

    @classmethod
    def _load_state(cls, src: Path, meta: dict[str, Any], source: SourceModel) -> AffineTransfer:
        from safetensors.torch import load_file

        state = load_file(str(src / "affine.safetensors"))
        model = cls(source, int(meta["state"]["kernel_source"]), bool(meta["state"]["residual"]))
        model.y_mean, model.y_std = float(meta["y_mean"]), float(meta["y_std"])
        model.X, model.y = state["X"].numpy(), state["y"].numpy()
        model.gp = model._build(model.X, (model.y - model.y_mean) / model.y_std)
        model.gp.load_state_dict({k[3:]: v for k, v in state.items() if k.startswith("gp.")})
        model.gp.eval()
        return model
