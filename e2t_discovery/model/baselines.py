"""Baseline regressors behind the surrogate's ``fit`` / ``predict(return_std)`` interface.

- :class:`RidgeBaseline`: ridge regression (scikit-learn ``RidgeCV``) on standardized inputs;
  penalty by leave-one-out, std = leave-one-out RMSE.
- :class:`RandomForestBaseline`: scikit-learn random forest; std = spread of the trees.
- :class:`GPBaseline`: exact GP (BoTorch ``SingleTaskGP`` fitted with ``fit_gpytorch_mll``)
  with a MinMax (Tanimoto-type) kernel for count fingerprints or RBF-ARD for descriptors.
- :class:`MLPBaseline`: an ensemble of scikit-learn MLP regressors; std combines the
  ensemble spread and the validation residual.

``groups`` is accepted everywhere (and ignored) so that benchmark code can treat every
method alike. :func:`make_baseline` builds one by name.
"""

from __future__ import annotations

import warnings
from typing import Any

import gpytorch
import numpy as np
import torch
from torch import Tensor

from e2t_discovery.exceptions import ModelError, NotFittedError
from e2t_discovery.model.botorch_base import SingleOutputModel
from e2t_discovery.model.kernels import MinMaxKernel

__all__ = [
    "BASELINES",
    "GPBaseline",
    "MLPBaseline",
    "MinMaxKernel",  # re-exported from e2t_discovery.model.kernels
    "RandomForestBaseline",
    "RidgeBaseline",
    "make_baseline",
]


def _standardize(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = X_train.mean(0)
    std = X_train.std(0)
    return mean, np.where(std > 1e-12, std, 1.0)


class _Base:
    """Shared input checks of the baselines."""

    def __init__(self) -> None:
        self._fitted = False

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit first")

    def _check(self, X: Any, y: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ModelError(f"X has shape {X.shape}; pass a 2-D array n x d")
        if y is None:
            self._require_fitted()
            return X, None
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if y.shape[0] != X.shape[0]:
            raise ModelError(f"y has {y.shape[0]} values for {X.shape[0]} rows")
        return X, y

    def _out(self, mean: np.ndarray, std: np.ndarray,
             return_std: bool) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        return (mean, std) if return_std else mean


class RidgeBaseline(_Base):
    """Ridge regression on standardized inputs, penalty chosen by leave-one-out (GCV).

    The std is the leave-one-out RMSE at the chosen penalty (one value for every point).
    """

    def fit(self, X: Any, y: Any, groups: Any = None) -> RidgeBaseline:
        """Fit on ``n x d`` inputs and ``n`` targets."""
        from sklearn.linear_model import RidgeCV

        X, y = self._check(X, y)
        self.mean_, self.scale_ = _standardize(X)
        Z = np.clip((X - self.mean_) / self.scale_, -10, 10)
        self.model_ = RidgeCV(alphas=np.logspace(-2, 5, 15), store_cv_results=True).fit(Z, y)
        best = int(np.argmin(self.model_.cv_results_.mean(0)))
        self.std_ = float(np.sqrt(self.model_.cv_results_[:, best].mean()))
        self._fitted = True
        return self

    def predict(self, X: Any, return_std: bool = False):  # noqa: ANN201
        """Predict ``n`` means (and the leave-one-out RMSE as std)."""
        X, _ = self._check(X)
        mean = self.model_.predict(np.clip((X - self.mean_) / self.scale_, -10, 10))
        return self._out(mean, np.full(mean.shape, self.std_), return_std)


class RandomForestBaseline(_Base):
    """Random forest; the std is the spread of the trees' predictions.

    Args:
        n_estimators: Number of trees.
        max_features: Features tried per split (scikit-learn meaning).
        seed: Random seed.
    """

    def __init__(self, n_estimators: int = 100, max_features: float | str = 0.3,
                 seed: int = 0) -> None:
        super().__init__()
        self.n_estimators, self.max_features, self.seed = n_estimators, max_features, seed

    def fit(self, X: Any, y: Any, groups: Any = None) -> RandomForestBaseline:
        """Fit on ``n x d`` inputs and ``n`` targets."""
        from sklearn.ensemble import RandomForestRegressor

        X, y = self._check(X, y)
        self.model_ = RandomForestRegressor(
            n_estimators=self.n_estimators, max_features=self.max_features,
            min_samples_leaf=2, random_state=self.seed, n_jobs=1).fit(X, y)
        self._fitted = True
        return self

    def predict(self, X: Any, return_std: bool = False):  # noqa: ANN201
        """Predict ``n`` means (and the std over trees)."""
        X, _ = self._check(X)
        per_tree = np.stack([t.predict(X) for t in self.model_.estimators_])
        return self._out(per_tree.mean(0), per_tree.std(0), return_std)


class GPBaseline(_Base):
    """Exact GP regression with BoTorch's ``SingleTaskGP``.

    Args:
        kernel: ``minmax`` (count fingerprints; non-negative inputs) or ``rbf`` (RBF with
            one lengthscale per descriptor, on inputs scaled to the unit cube).
    """

    def __init__(self, kernel: str = "rbf") -> None:
        super().__init__()
        if kernel not in ("minmax", "rbf"):
            raise ModelError(f"unknown GP kernel {kernel!r}; use 'minmax' or 'rbf'")
        self.kernel = kernel

    def _inputs(self, X: np.ndarray) -> Tensor:
        return self._inputs_t(torch.as_tensor(X, dtype=torch.float64))

    def _inputs_t(self, X: Tensor) -> Tensor:
        """Raw features (``... x d`` tensor) -> the GP's inputs (columns kept, scaled)."""
        X = X[..., torch.as_tensor(self.cols_, dtype=torch.long)]
        if self.kernel == "minmax":
            return X.clamp_min(0.0)
        return (X - torch.as_tensor(self.lo_)) / torch.as_tensor(self.span_)

    @property
    def noise_std(self) -> float:
        """Fitted observation noise standard deviation (target unit)."""
        self._require_fitted()
        gp: Any = self.model_
        noise = gp.likelihood.noise.detach().reshape(-1)[0]
        return float(noise.sqrt() * gp.outcome_transform.stdvs.reshape(-1)[0])

    def posterior(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Latent (noise-free) joint posterior: mean ``n`` and covariance ``n x n``."""
        X, _ = self._check(X)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            post: Any = self.model_.posterior(self._inputs(X))
            return (post.mean.squeeze(-1).numpy(),
                    post.distribution.covariance_matrix.numpy())

    def to_botorch(self) -> Any:
        """The fitted ``SingleTaskGP`` as a BoTorch model of the raw features."""
        self._require_fitted()
        return _RawFeatureModel(self.model_, self._inputs_t)

    def fit(self, X: Any, y: Any, groups: Any = None) -> GPBaseline:
        """Fit kernel hyperparameters by maximizing the marginal likelihood."""
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms.outcome import Standardize
        from gpytorch.mlls import ExactMarginalLogLikelihood

        X, y = self._check(X, y)
        if self.kernel == "minmax" and (X < 0).any():
            raise ModelError("the minmax kernel needs non-negative inputs (count fingerprints)")
        self.cols_ = np.flatnonzero(X.std(0) > 0) if self.kernel == "rbf" else np.arange(X.shape[1])
        self.lo_ = X[:, self.cols_].min(0)
        self.span_ = np.maximum(X[:, self.cols_].max(0) - self.lo_, 1e-12)
        covar = (gpytorch.kernels.ScaleKernel(MinMaxKernel()) if self.kernel == "minmax"
                 else None)
        train_x = self._inputs(X)
        train_y = torch.as_tensor(y, dtype=torch.float64).unsqueeze(-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BoTorch's input-scaling advice does not apply
            self.model_ = SingleTaskGP(train_x, train_y, covar_module=covar,
                                       outcome_transform=Standardize(m=1))
            fit_gpytorch_mll(ExactMarginalLogLikelihood(self.model_.likelihood, self.model_))
        self.model_.eval()
        self._fitted = True
        return self

    def predict(self, X: Any, return_std: bool = False):  # noqa: ANN201
        """Predict ``n`` means (and predictive stds, observation noise included)."""
        X, _ = self._check(X)
        means, stds = [], []
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = self._inputs(X)
            for i in range(0, x.shape[0], 1024):
                post = self.model_.posterior(x[i:i + 1024], observation_noise=True)
                means.append(post.mean.squeeze(-1).numpy())
                stds.append(post.variance.squeeze(-1).clamp_min(0).sqrt().numpy())
        return self._out(np.concatenate(means), np.concatenate(stds), return_std)


class _RawFeatureModel(SingleOutputModel):
    """A fitted BoTorch model behind the feature mapping it was fitted on."""

    def __init__(self, model: Any, inputs: Any) -> None:
        super().__init__()
        self.model, self._map = model, inputs

    def posterior(self, X: Tensor, output_indices: list[int] | None = None,
                  observation_noise: bool | Tensor = False,
                  posterior_transform: Any = None, **kwargs: Any) -> Any:
        """The GP's posterior at the mapped inputs (target units)."""
        return self.model.posterior(self._map(X), observation_noise=observation_noise,
                                    posterior_transform=posterior_transform)


class MLPBaseline(_Base):
    """An ensemble of scikit-learn MLP regressors on standardized inputs.

    The std combines the members' spread with the residual variance on the internal
    early-stopping split.

    Args:
        hidden: Hidden layer widths.
        n_members: Ensemble size.
        seed: Base seed.
    """

    def __init__(self, hidden: tuple[int, ...] = (128, 128), n_members: int = 2,
                 seed: int = 0) -> None:
        super().__init__()
        self.hidden, self.n_members, self.seed = hidden, n_members, seed

    def fit(self, X: Any, y: Any, groups: Any = None) -> MLPBaseline:
        """Fit every member with early stopping on a random 15% split."""
        from sklearn.neural_network import MLPRegressor

        X, y = self._check(X, y)
        self.mean_, self.scale_ = _standardize(X)
        Z = np.clip((X - self.mean_) / self.scale_, -10, 10)
        self.y_mean_, self.y_std_ = y.mean(), y.std() or 1.0
        t = (y - self.y_mean_) / self.y_std_
        self.members_ = []
        for i in range(self.n_members):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = MLPRegressor(hidden_layer_sizes=self.hidden, alpha=1e-3, early_stopping=True,
                                 validation_fraction=0.15, max_iter=150, n_iter_no_change=10,
                                 random_state=self.seed + i).fit(Z, t)
            self.members_.append(m)
        # best_validation_score_ is R^2 on the held-out split: residual var = 1 - R^2.
        r2 = np.mean([m.best_validation_score_ for m in self.members_])
        self.noise_var_ = float(max(1.0 - r2, 1e-4))
        self._fitted = True
        return self

    def predict(self, X: Any, return_std: bool = False):  # noqa: ANN201
        """Predict ``n`` means (and stds)."""
        X, _ = self._check(X)
        Z = np.clip((X - self.mean_) / self.scale_, -10, 10)
        preds = np.stack([m.predict(Z) for m in self.members_])
        mean = preds.mean(0) * self.y_std_ + self.y_mean_
        std = np.sqrt(preds.var(0) + self.noise_var_) * self.y_std_
        return self._out(mean, std, return_std)


BASELINES: dict[str, Any] = {
    "ridge": RidgeBaseline,
    "rf": RandomForestBaseline,
    "gp": GPBaseline,
    "mlp": MLPBaseline,
}


def make_baseline(name: str, **params: Any) -> Any:
    """Build a baseline by name (``ridge``, ``rf``, ``gp``, ``mlp``)."""
    if name not in BASELINES:
        raise ModelError(f"unknown baseline {name!r}; use one of {', '.join(BASELINES)}")
    return BASELINES[name](**params)
