"""The E2T surrogate: an episodically meta-trained encoder with a Bayesian linear head.

Training (:meth:`E2TSurrogate.fit`, see :mod:`e2t_discovery.model.training`) repeats:
draw an episode (support S, query Q from other domains), embed both with the encoder, fit
the head in closed form on ``phi(S)``, and take an Adam step on the query loss (Gaussian
NLL or MSE). Validation uses held-out *training* domains only. At inference the support
set is all training data plus any conditioned points, and the head posterior is computed
once, so prediction is one encoder pass plus a small triangular solve, and
:meth:`E2TSurrogate.condition` updates predictions at once without a gradient step. The
support set's updates (condition, the out-of-domain threshold) are in
:mod:`e2t_discovery.model.support`, the saved form in :mod:`e2t_discovery.model.checkpoint`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from e2t_discovery.exceptions import ModelError, NotFittedError
from e2t_discovery.model.checkpoint import load_surrogate, save_surrogate
from e2t_discovery.model.config import SurrogateConfig
from e2t_discovery.model.episodes import cluster_domains, encode_domains
from e2t_discovery.model.head import HeadPosterior
from e2t_discovery.model.inputs import InputKind, make_inputs
from e2t_discovery.model.support import SupportMixin
from e2t_discovery.model.training import (
    Member,
    MemberTrainer,
    adapt_episodes,
    embed_rows,
    threads_for,
)
from e2t_discovery.progress import Progress, progress_bar

__all__ = ["E2TSurrogate", "SurrogateConfig"]


@dataclass
class _Cache:
    """Inference state of one member: support embeddings and the head posterior."""

    phi: Tensor
    post: HeadPosterior


def _resolve_config(config: SurrogateConfig | None, overrides: dict[str, Any]) -> SurrogateConfig:
    """The configuration of a new surrogate: defaults (or ``config``) plus overrides."""
    if config is None:
        return SurrogateConfig.from_dict(overrides)
    return config.replace(**overrides) if overrides else config


def _pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("device='cuda' but CUDA is not available; use device='auto' or 'cpu'")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class E2TSurrogate(SupportMixin):
    """Extrapolative episodic-training surrogate with a Bayesian linear head.

    Args:
        config: Hyperparameters; None uses the defaults.
        **overrides: Fields of :class:`SurrogateConfig` to change.

    Example:
        >>> model = E2TSurrogate(steps=500).fit(X, y, groups)
        >>> mean, std = model.predict(X_new, return_std=True)
    """

    def __new__(cls, config: SurrogateConfig | None = None, **overrides: Any) -> E2TSurrogate:
        """Build the head's class: ``head="gp"`` gives a :class:`GPHeadSurrogate`."""
        if cls is E2TSurrogate and _resolve_config(config, overrides).head == "gp":
            from e2t_discovery.model.gp_surrogate import GPHeadSurrogate

            return super().__new__(GPHeadSurrogate)
        return super().__new__(cls)

    def __init__(self, config: SurrogateConfig | None = None, **overrides: Any) -> None:
        self.config = _resolve_config(config, overrides)
        self.device = _pick_device(self.config.device)
        self.inputs: InputKind = make_inputs(self.config)
        self.members: list[Any] = []
        self._caches: list[Any] = []
        self._X: Any = None
        self._y = np.zeros(0)
        self._domains = np.zeros(0, dtype=np.int64)
        self._ood_threshold: float | None = None
        self.y_mean = 0.0
        self.y_std = 1.0
        self.history: list[dict[str, Any]] = []
        #: One record per calibrated member (GP head): the factor applied and both targets'.
        self.calibrations: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ properties
    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` (or :meth:`load`) has run."""
        return bool(self.members)

    @property
    def noise_std(self) -> float:
        """Observation-noise standard deviation in target units (mean over members)."""
        self._check_fitted()
        var = np.mean([float(m.head.noise_var.detach()) for m in self.members])
        return float(math.sqrt(var) * self.y_std)

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("the E2T surrogate is not fitted; call fit(X, y) first")

    # ------------------------------------------------------------------ training
    def fit(self, X: Any, y: Any, groups: Any = None, *, progress: bool = True,
            library: Any = None) -> E2TSurrogate:
        """Meta-train the encoder on extrapolative episodes.

        Args:
            X: ``n x d`` array (``encoder="mlp"``) or list of ``n`` CrystalGraph
                (``encoder="graph"``).
            y: ``n`` targets.
            groups: ``n`` domain labels; None derives domains by k-means on ``X``.
            progress: Show progress (a bar on a terminal, else a plain line every 10 s).
            library: Unlabelled candidates (inputs like ``X``) the model will be asked
                to predict; needed by ``validation="nearest"``, unused otherwise.

        Returns:
            self, fitted.

        Raises:
            ModelError: on mismatched shapes, non-finite values or too few rows.
        """
        cfg = self.config
        self.inputs = make_inputs(cfg)
        X = self.inputs.validate(X)
        y = self._check_y(y, self.inputs.length(X))
        if cfg.validation == "nearest" and library is None:
            raise ModelError("validation='nearest' holds out the training domains most like "
                             "the candidates: pass them as fit(X, y, groups, library=...)")
        library = (self.inputs.validate(library)
                   if library is not None and cfg.validation == "nearest" else None)
        if y.shape[0] < 8:
            raise ModelError(f"need at least 8 training rows, got {y.shape[0]}")
        if groups is None:
            if cfg.encoder != "mlp":
                raise ModelError("encoder='graph' needs groups (domain labels) for fit")
            domains = cluster_domains(X, cfg.n_clusters, cfg.seed)
        else:
            domains = encode_domains(groups, y.shape[0])
        self.inputs.fit(X)
        self.y_mean = float(y.mean())
        self.y_std = float(y.std()) if y.std() > 0 else 1.0
        self._X, self._y, self._domains = X, y, domains
        self._ood_threshold = None
        self.members, self.history, self.calibrations = [], [], []
        bar = progress_bar(cfg.steps * cfg.ensemble, desc="E2T meta-training", unit="steps",
                           enabled=progress, leave=False)
        try:
            with threads_for(y.shape[0], self.device):
                self._train_members(X, (y - self.y_mean) / self.y_std, domains, bar,
                                    library)
        finally:
            bar.close()
        self._refresh_caches()
        return self

    def _train_members(self, X: Any, ys_np: np.ndarray, domains: np.ndarray,
                       bar: Progress, library: Any = None) -> None:
        """Train ``config.ensemble`` members on standardized targets into ``members``
        (``library``: the unlabelled candidates of ``validation="nearest"``, GP head only)."""
        trainer = self._trainer(X, torch.as_tensor(ys_np, device=self.device))
        for i in range(self.config.ensemble):
            self.members.append(trainer.train(X, domains, self.config.seed + i, bar))

    def _trainer(self, X: Any, ys: Tensor) -> MemberTrainer:
        """A trainer of linear-head members on support inputs ``X``, targets ``ys``."""
        return MemberTrainer(self.config, self.inputs, self.inputs.prepare(X, self.device), ys,
                             self.device, self.history)

    def _new_member(self, X: Any) -> nn.Module:
        """A fresh, untrained member for support inputs ``X`` (used by :meth:`load`)."""
        return Member(self.inputs.build_encoder(self.config, X), self.config)

    def _noise_vars(self) -> np.ndarray:
        """Noise variance of each member (standardized units)."""
        return np.array([float(c.post.noise_var.detach()) for c in self._caches])

    # ------------------------------------------------------------------ inference state
    def _refresh_caches(self) -> None:
        """Embed the support set and compute each member's head posterior."""
        prepared = self.inputs.prepare(self._X, self.device)
        ys = torch.as_tensor((self._y - self.y_mean) / self.y_std, device=self.device)
        self._caches = []
        for member in self.members:
            phi = self._embed_rows(member, prepared, np.arange(self.n_support))
            with torch.no_grad():
                post = member.head.fit(phi, ys)
            self._caches.append(_Cache(phi=phi, post=post))

    def _embed_all(self, X: Any) -> list[Tensor]:
        """Embeddings of canonical inputs by every member: list of ``n x p``."""
        prepared = self.inputs.prepare(X, self.device)
        idx = np.arange(self.inputs.length(X))
        return [self._embed_rows(m, prepared, idx) for m in self.members]

    def _embed_rows(self, member: Member, prepared: Any, idx: np.ndarray) -> Tensor:
        return embed_rows(member, self.inputs, prepared, idx, self.config.batch_size,
                          self.device)

    def _member_moments(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-member latent means, latent variances and leverages: each ``k x n``."""
        self._check_fitted()
        X = self.inputs.validate(X)
        means, lvars, levs = [], [], []
        with torch.no_grad():
            for cache, phi in zip(self._caches, self._embed_all(X), strict=True):
                means.append(cache.post.mean(phi).cpu().numpy())
                lvars.append(cache.post.latent_var(phi).cpu().numpy())
                levs.append(cache.post.leverage(phi).cpu().numpy())
        return np.stack(means), np.stack(lvars), np.stack(levs)

    # ------------------------------------------------------------------ public inference
    def predict(
        self, X: Any, return_std: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predict targets.

        Args:
            X: ``n x d`` array or list of ``n`` CrystalGraph.
            return_std: Also return the predictive standard deviation (noise included,
                ensemble spread included).

        Returns:
            ``n`` means, or ``(mean, std)``, in target units.
        """
        mean, std, _ = self.predict_with_distance(X)
        return (mean, std) if return_std else mean

    def predict_with_distance(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predictive mean, std and :meth:`domain_distance` from one encoder pass.

        Equal to ``predict(X, return_std=True)`` and ``domain_distance(X)``, at the cost of
        one of them (screening calls this for every candidate).
        """
        means, lvars, levs = self._member_moments(X)
        noise = self._noise_vars()[:, None]
        mean = means.mean(0)
        var = (lvars + noise).mean(0) + means.var(0)
        return (mean * self.y_std + self.y_mean, np.sqrt(var) * self.y_std, levs.mean(0))

    def posterior(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Return the latent (noise-free) joint posterior: mean ``n``, covariance ``n x n``."""
        self._check_fitted()
        X = self.inputs.validate(X)
        with torch.no_grad():
            phis = [phi.unsqueeze(0) for phi in self._embed_all(X)]
            mean, cov = self._combine_joint(phis)
        return mean[0].cpu().numpy(), cov[0].cpu().numpy()

    def _combine_joint(self, phis: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Ensemble joint posterior in target units from per-member ``b x q x p`` embeddings.

        Returns:
            mean ``b x q`` and covariance ``b x q x q`` (float64): the mean of the members'
            means, and the mean of their covariances plus the covariance of their means.
        """
        means = torch.stack([c.post.mean(phi) for c, phi in zip(self._caches, phis, strict=True)])
        covs = torch.stack([c.post.joint_cov(phi)
                            for c, phi in zip(self._caches, phis, strict=True)])
        return self._mix_members(means, covs)

    def _mix_members(self, means: Tensor, covs: Tensor) -> tuple[Tensor, Tensor]:
        """One joint posterior in target units from the members' ``k x b x q (x q)``."""
        mean = means.mean(0)
        dev = means - mean
        cov = covs.mean(0) + (dev.unsqueeze(-1) * dev.unsqueeze(-2)).mean(0)
        return mean * self.y_std + self.y_mean, cov * self.y_std**2

    def joint_posterior_torch(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Differentiable joint posterior for raw descriptor tensors (``encoder="mlp"``).

        Args:
            x: ``batch x q x d`` raw (unstandardized) descriptors.

        Returns:
            Latent mean ``batch x q`` and covariance ``batch x q x q`` (float64, target units).
        """
        self._check_fitted()
        if self.config.encoder != "mlp":
            raise ModelError("joint_posterior_torch needs encoder='mlp' (descriptor tensors)")
        z = self.inputs.prepare_torch(  # type: ignore[attr-defined]
            x.to(device=self.device, dtype=torch.float32))
        phis = []
        for m in self.members:
            m.eval()
            phis.append(m.encoder(z))
        return self._combine_joint(phis)

    def domain_distance(self, X: Any) -> np.ndarray:
        """Leverage ``phi_c^T A^-1 phi_c`` of each input (mean over members; >= 0).

        Near 0 inside the support's span; large for inputs unlike any support point.
        """
        return self._member_moments(X)[2].mean(0)

    def embed(self, X: Any) -> np.ndarray:
        """Embeddings ``n x p`` of the first ensemble member."""
        self._check_fitted()
        return self._embed_all(self.inputs.validate(X))[0].cpu().numpy()

    # ------------------------------------------------------------------ updating
    def adapt(self, X: Any, y: Any, groups: Any = None, *, steps: int = 100,
              lr: float = 1e-4) -> E2TSurrogate:
        """Few-shot fine-tune the encoder on new points, then condition on them.

        Each step alternates between an episode whose query is drawn from the new points
        (support: source data of other domains) and an ordinary extrapolative episode on
        the source data, so the encoder does not forget the source domains.

        Args:
            X: New inputs (``m x d`` or list of CrystalGraph).
            y: ``m`` new targets.
            groups: ``m`` domain labels of the new points; None = one new domain.
            steps: Fine-tuning steps per member.
            lr: Learning rate (small: the encoder is already trained).
        """
        self._check_fitted()
        new_rows = self._add_support(X, y, groups)
        trainer = self._trainer(self._X, torch.as_tensor((self._y - self.y_mean) / self.y_std,
                                                         device=self.device))
        for i, member in enumerate(self.members):
            seed = self.config.seed + 101 + i
            trainer.finetune(member, adapt_episodes(self._domains, new_rows, self.config,
                                                    steps, seed), lr, seed)
        self._refresh_caches()
        return self

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> None:
        """Write ``config.json``, ``weights.safetensors`` and ``support.safetensors``.

        No pickle: weights and the support set are safetensors, the rest is JSON (see
        :mod:`e2t_discovery.model.checkpoint`).
        """
        self._check_fitted()
        save_surrogate(self, directory)

    @classmethod
    def load(cls, directory: str | Path, *, device: str | None = None) -> E2TSurrogate:
        """Load a model written by :meth:`save`.

        Args:
            directory: The folder given to :meth:`save`.
            device: Override the saved device setting (``auto``, ``cpu``, ``cuda``).

        Raises:
            ModelError: if files are missing, corrupt or from another format version.
        """
        return load_surrogate(cls, directory, device)

    def to_botorch(self):  # noqa: ANN201 - botorch is imported lazily
        """Return a BoTorch ``Model`` over this surrogate's joint predictive."""
        from e2t_discovery.model.botorch_model import E2TBoTorchModel

        self._check_fitted()
        return E2TBoTorchModel(self)
