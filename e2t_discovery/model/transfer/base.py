"""What every transfer model shares: the interface, a frozen kernel, persistence, BoTorch.

A :class:`TransferModel` predicts a *target* property from target measurements plus a
fitted :class:`~e2t_discovery.model.transfer.source.SourceModel`. Units: the target is
standardized by its own training labels (``y_mean``, ``y_std``) and each source property
by its source model's; the methods relate the two on the standardized scales (``affine``
reports ``a`` and ``b`` back in target units per source unit), so a source in other units
(GGA vs HSE06 band gaps, density vs thermal conductivity) needs no conversion.

Every transfer model is a :class:`~e2t_discovery.model.protocol.Surrogate`, so screening,
strategies and the loop's adaptation use it as they use an ``E2TSurrogate``:

- **domain distance** (``affine`` with its residual, ``multitask``): the latent posterior
  variance at ``x`` over the latent *prior* variance of the same model at ``x``, in
  ``[0, 1]``: 0 where the target measurements (and, for ``multitask``, correlated source
  rows) pin the target down, 1 where they say nothing and only the prior is left. The
  source's own uncertainty enters numerator and denominator alike. ``finetune`` (an
  ordinary surrogate inside) and ``affine`` without a residual use the distance and the
  out-of-domain rule of their surrogate (the fine-tuned one; the source's).
- **out of domain**: distance above :data:`OOD_THRESHOLD` = 0.5, i.e. the target data
  remove less than half of the prior variance there.
- **adapt**: what :attr:`TransferModel.adapt_mode` says: ``condition`` (``multitask``: the
  joint fit is the expensive part, kept), ``refit`` (``affine``: ``a``, ``b``, the residual
  scale and the noise refitted on all target rows, a second or so) or ``fine-tune``
  (``finetune``: the surrogate's own few-shot :meth:`E2TSurrogate.adapt`).
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import gpytorch
import numpy as np
import torch
from botorch.acquisition.objective import PosteriorTransform
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from gpytorch.kernels import Kernel
from torch import Tensor

from e2t_discovery.exceptions import ModelError
from e2t_discovery.model.botorch_base import SingleOutputModel
from e2t_discovery.model.gp_head import EXACT_ROWS
from e2t_discovery.model.transfer.source import SourceModel

__all__ = ["FrozenKernel", "TransferBoTorchModel", "TransferModel", "fit_mll",
           "read_meta", "FORMAT_VERSION", "OOD_THRESHOLD"]

FORMAT_VERSION = 1
#: Rows per joint posterior when predicting (marginals are its diagonal; a batch of
#: ``q = 1`` posteriors would copy the training inputs once per row inside GPyTorch).
PREDICT_BATCH = 256
#: Domain distance (posterior / prior latent variance) above which an input is out of domain.
OOD_THRESHOLD = 0.5


class FrozenKernel(Kernel):
    """A copy of a fitted kernel with every hyperparameter fixed, its Gram cached.

    The copy is kept in eval mode (a learned encoder inside runs without dropout) and its
    parameters do not train. Without gradients on the inputs, the last
    ``cache_size`` Gram matrices are kept, so a marginal-likelihood fit of the parts
    around it (scales, task covariances, means) computes the MinMax or RBF-ARD Gram of
    its training rows once.

    Args:
        kernel: The fitted kernel (copied; the original is left untouched).
        cache_size: Gram matrices kept.
    """

    has_lengthscale = False

    def __init__(self, kernel: Kernel, cache_size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner = copy.deepcopy(kernel).eval()
        for p in self.inner.parameters():
            p.requires_grad_(False)
        self._cache: list[tuple[Tensor, Tensor, Tensor]] = []
        self._cache_size = cache_size

    def train(self, mode: bool = True) -> FrozenKernel:
        """Set this module's mode; the copied kernel stays in eval mode."""
        super().train(mode)
        self.inner.eval()
        return self

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        """Dense Gram ``... x n x m`` (or its diagonal) of the frozen kernel."""
        if diag:
            return self.inner(x1, x2, diag=True)
        if x1.requires_grad or x2.requires_grad:
            return self.inner(x1, x2).to_dense()
        for a, b, k in self._cache:
            if a.shape == x1.shape and b.shape == x2.shape and torch.equal(a, x1) \
                    and torch.equal(b, x2):
                return k
        with torch.no_grad():
            k = self.inner(x1, x2).to_dense()
        self._cache = [(x1.detach().clone(), x2.detach().clone(), k), *self._cache]
        del self._cache[self._cache_size:]
        return k


def fit_mll(model: Any, maxiter: int | None = None) -> None:
    """Fit a GPyTorch model's trainable hyperparameters by exact marginal likelihood.

    BoTorch ``fit_gpytorch_mll`` (L-BFGS; only parameters that require gradients move,
    at most ``maxiter`` iterations when given), kept on Cholesky above GPyTorch's 800 rows.
    """
    from botorch.fit import fit_gpytorch_mll
    from gpytorch.mlls import ExactMarginalLogLikelihood

    with warnings.catch_warnings(), gpytorch.settings.max_cholesky_size(EXACT_ROWS):
        warnings.simplefilter("ignore")  # input-scaling advice; optimizer chatter
        options = None if maxiter is None else {"options": {"maxiter": maxiter}}
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model),
                         optimizer_kwargs=options)
    model.eval()


class TransferModel(ABC):
    """A target model that uses a source model (see :func:`fit_transfer`).

    Attributes:
        method: ``finetune``, ``affine`` or ``multitask``.
        source: The source model.
        y_mean, y_std: Standardization of the target labels (target units).
    """

    method: ClassVar[str]
    #: What :meth:`adapt` does: ``condition``, ``refit`` or ``fine-tune``.
    adapt_mode: ClassVar[str] = "condition"

    def __init__(self, source: SourceModel) -> None:
        self.source = source
        self.y_mean = 0.0
        self.y_std = 1.0
        self.X = np.zeros((0, source.n_features))
        self.y = np.zeros(0)
        #: How ``method = "auto"`` chose this model (``select.select_transfer``), else None.
        self.selection: dict[str, Any] | None = None

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def joint(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Latent joint posterior in target units.

        Args:
            x: ``b x q x d`` raw target inputs.

        Returns:
            Mean ``b x q`` and covariance ``b x q x q`` (float64).
        """

    def prior_var(self, x: Tensor) -> Tensor:
        """Latent prior variance ``b x q`` at ``b x q x d`` inputs, in target units squared.

        The prior of the same model without target rows (the denominator of the domain
        distance). Models that take their distance from a surrogate need not define it.
        """
        raise NotImplementedError(f"{type(self).__name__} has no prior variance")

    def joint_with_prior(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`joint` and :meth:`prior_var` at once (``b x q``, ``b x q x q``, ``b x q``)."""
        mean, cov = self.joint(x)
        return mean, cov, self.prior_var(x)

    @property
    @abstractmethod
    def noise_var(self) -> float:
        """Observation-noise variance of the target, in target units squared."""

    @abstractmethod
    def _condition(self, X: np.ndarray, y: np.ndarray) -> None:
        """Add validated target rows (hyperparameters fixed)."""

    @abstractmethod
    def _save_state(self, out: Path) -> dict[str, Any]:
        """Write the method's tensors under ``out``; return its JSON metadata."""

    @classmethod
    @abstractmethod
    def _load_state(cls, src: Path, meta: dict[str, Any], source: SourceModel) -> TransferModel:
        """Rebuild the model written by :meth:`_save_state` (``meta``: all of ``transfer.json``)."""

    def info(self) -> dict[str, Any]:
        """Fitted quantities worth reporting (JSON-serializable)."""
        return {}

    # ------------------------------------------------------------------ shared
    def check_X(self, X: Any) -> np.ndarray:
        """Validate ``n x d`` target inputs (the source's featurization)."""
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.source.n_features:
            raise ModelError(f"X has shape {arr.shape}; the source model takes n x "
                             f"{self.source.n_features} inputs (featurize them the same way)")
        if not np.isfinite(arr).all():
            raise ModelError("X contains NaN or infinite values")
        return arr

    @staticmethod
    def check_y(y: Any, n: int) -> np.ndarray:
        """Validate ``n`` finite target labels."""
        arr = np.asarray(y, dtype=np.float64).reshape(-1)
        if arr.shape[0] != n:
            raise ModelError(f"y has {arr.shape[0]} values for {n} inputs; pass one per row")
        if not np.isfinite(arr).all():
            raise ModelError("target y contains NaN or infinite values; drop those rows")
        return arr

    def set_scale(self, y: np.ndarray) -> None:
        """Standardize the target by its training labels (std 1 when it has no spread)."""
        self.y_mean = float(y.mean())
        std = float(y.std())
        self.y_std = std if std > 1e-12 else 1.0

    def predict(self, X: Any, return_std: bool = False
                ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predict the target: ``n`` means, or ``(mean, std)`` with the noise included."""
        x = torch.as_tensor(self.check_X(X))
        means, variances = [], []
        with torch.no_grad():
            for i in range(0, x.shape[0], PREDICT_BATCH):
                mean, cov = self.joint(x[i:i + PREDICT_BATCH].unsqueeze(0))
                means.append(mean.reshape(-1))
                variances.append(cov[0].diagonal().clamp_min(0.0))
        mu: np.ndarray = torch.cat(means).numpy() if means else np.zeros(0)
        if not return_std:
            return mu
        var: np.ndarray = torch.cat(variances).numpy() if variances else np.zeros(0)
        return mu, np.sqrt(var + self.noise_var)

    # ------------------------------------------------------------------ Surrogate protocol
    @property
    def noise_std(self) -> float:
        """Observation noise standard deviation of the target (target units)."""
        return math.sqrt(self.noise_var)

    def predict_with_distance(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predictive mean, std (noise included) and domain distance ``n`` each, one pass.

        The distance is the posterior over the prior latent variance (module docstring).
        """
        x = torch.as_tensor(self.check_X(X))
        means, variances, ratios = [], [], []
        with torch.no_grad():
            for i in range(0, x.shape[0], PREDICT_BATCH):
                mean, cov, prior = self.joint_with_prior(x[i:i + PREDICT_BATCH].unsqueeze(0))
                var = cov[0].diagonal().clamp_min(0.0)
                means.append(mean.reshape(-1))
                variances.append(var)
                ratios.append((var / prior.reshape(-1).clamp_min(1e-300)).clamp(0.0, 1.0))
        if not means:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        var_np = torch.cat(variances).numpy()
        return (torch.cat(means).numpy(), np.sqrt(var_np + self.noise_var),
                torch.cat(ratios).numpy())

    def domain_distance(self, X: Any) -> np.ndarray:
        """Posterior over prior latent variance of each input, in ``[0, 1]`` (larger = farther)."""
        return self.predict_with_distance(X)[2]

    def out_of_domain(self, X: Any, distance: np.ndarray | None = None) -> np.ndarray:
        """Boolean ``n``: domain distance above :data:`OOD_THRESHOLD` (``distance``: use it)."""
        dist = self.domain_distance(X) if distance is None else np.asarray(distance)
        return np.asarray(dist, dtype=float) > OOD_THRESHOLD

    def posterior(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Latent joint posterior in target units: mean ``n`` and covariance ``n x n``."""
        x = torch.as_tensor(self.check_X(X))
        with torch.no_grad():
            mean, cov = self.joint(x.unsqueeze(0))
        return mean[0].numpy(), cov[0].numpy()

    def adapt(self, X: Any, y: Any, groups: Any = None, *, steps: int = 100,
              lr: float = 1e-4) -> TransferModel:
        """Follow new target measurements as :attr:`adapt_mode` says (here: condition).

        ``groups``, ``steps`` and ``lr`` are used by ``finetune`` only.
        """
        return self.condition(X, y)

    def condition(self, X: Any, y: Any) -> TransferModel:
        """Add new target measurements; predictions change at once (no refit)."""
        X = self.check_X(X)
        y = self.check_y(y, X.shape[0])
        self._condition(X, y)
        self.X, self.y = np.concatenate([self.X, X]), np.concatenate([self.y, y])
        return self

    def to_botorch(self) -> Model:
        """Return a BoTorch ``Model`` over this model's joint target posterior."""
        return TransferBoTorchModel(self)

    def save(self, directory: str | Path) -> None:
        """Write ``transfer.json``, the method's safetensors and the source model (``source/``).

        No pickle: tensors are safetensors, the rest is JSON.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.source.save(out / "source")
        meta = {"format": FORMAT_VERSION, "method": self.method, "y_mean": self.y_mean,
                "y_std": self.y_std, "info": self.info(), "selection": self.selection,
                "state": self._save_state(out)}
        (out / "transfer.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> TransferModel:
        """Load a model written by :meth:`save` (any method).

        Raises:
            ModelError: if files are missing, corrupt or from another format version.
        """
        from e2t_discovery.model.transfer import METHOD_CLASSES

        src = Path(directory)
        meta = read_meta(src / "transfer.json")
        method = meta.get("method")
        if method not in METHOD_CLASSES:
            raise ModelError(f"{src} holds transfer method {method!r}; known: "
                             f"{', '.join(METHOD_CLASSES)}")
        model = METHOD_CLASSES[method]._load_state(src, meta, SourceModel.load(src / "source"))
        model.selection = meta.get("selection")
        return model


def read_meta(path: Path) -> dict[str, Any]:
    """Read a transfer JSON file and check its format version."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot load a transfer model from {path.parent}: {exc}") from exc
    if meta.get("format") != FORMAT_VERSION:
        raise ModelError(f"transfer model in {path.parent} has format {meta.get('format')!r}; "
                         f"this code reads {FORMAT_VERSION}; re-fit it with this version")
    return meta


class TransferBoTorchModel(SingleOutputModel):
    """A single-output BoTorch model over a :class:`TransferModel`'s joint posterior.

    ``X`` are raw target inputs, ``batch x q x d``; the posterior is in target units.
    """

    def __init__(self, transfer: TransferModel) -> None:
        super().__init__()
        self.transfer = transfer

    def posterior(self, X: Tensor, output_indices: list[int] | None = None,
                  observation_noise: bool | Tensor = False,
                  posterior_transform: PosteriorTransform | None = None,
                  **kwargs: Any) -> GPyTorchPosterior:
        """Joint posterior over ``X`` (``batch x q x d`` or ``q x d``), event ``batch x q x 1``."""
        if output_indices not in (None, [0]):
            raise ModelError(f"output_indices={output_indices}: this model has one output")
        squeeze = X.dim() == 2
        x = (X.unsqueeze(0) if squeeze else X).to(torch.float64)
        mean, cov = self.transfer.joint(x)
        q = cov.shape[-1]
        eye = torch.eye(q, dtype=cov.dtype)
        noise = self.transfer.noise_var
        cov = cov + 1e-6 * noise * eye
        if isinstance(observation_noise, Tensor):
            cov = cov + torch.diag_embed(observation_noise.to(cov).reshape(*mean.shape))
        elif observation_noise:
            cov = cov + noise * eye
        if squeeze:
            mean, cov = mean.squeeze(0), cov.squeeze(0)
        posterior = GPyTorchPosterior(MultivariateNormal(mean.to(X), cov.to(X)))
        return posterior_transform(posterior) if posterior_transform is not None else posterior
