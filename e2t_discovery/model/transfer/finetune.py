"""Fine-tune transfer: the source-trained E2T surrogate, re-targeted and fine-tuned.

The E2T paper's protocol on the GP head (a copy of the best-correlated source's
surrogate; the source is left untouched):

1. **Re-target.** The support set becomes the target rows, standardized by the target
   labels; the encoder ``phi``, the kernel's lengthscales and the gate's decision are the
   source's (meta-trained on many source episodes).
2. **Rescale.** Each kernel part's scale, the constant mean and the noise are refitted by
   exact marginal likelihood on the target rows (BoTorch ``fit_gpytorch_mll``) with the
   source's values as the prior's median (LogNormal(0, 1) on each scale's multiplier), so
   five labels can move them only as far as they show.
3. **Fine-tune.** With at least ``min_rows`` target rows and the learned part on, ``steps``
   Adam steps (learning rate ``lr``) on episodes within the target rows (query: one target
   domain when there are several, else a random third; support: the rest) train ``phi``
   and the learned kernel's scale, as :meth:`E2TSurrogate.adapt` does for a new domain.

The result is an ordinary :class:`~e2t_discovery.model.E2TSurrogate` (``.model``), so
prediction, conditioning, saving and ``to_botorch`` are the surrogate's own.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import gpytorch
import numpy as np
import torch
from gpytorch.kernels import AdditiveKernel, ScaleKernel
from gpytorch.priors import LogNormalPrior
from torch import Tensor

from e2t_discovery.model.episodes import encode_domains
from e2t_discovery.model.gp_head import GPHead, gaussian_query_loss
from e2t_discovery.model.surrogate import E2TSurrogate
from e2t_discovery.model.transfer.base import FrozenKernel, TransferModel, fit_mll
from e2t_discovery.model.transfer.source import SourceModel, best_source

__all__ = ["FinetuneTransfer", "rescale_head", "retarget"]


def retarget(model: E2TSurrogate, X: np.ndarray, y: np.ndarray,
             groups: Any = None) -> E2TSurrogate:
    """A copy of ``model`` whose support set is ``(X, y)``, standardized by ``y``.

    Note: this sets the surrogate's support directly (its ``_X``, ``_y``, ``_domains``);
    the surrogate has no public way to replace the support yet.
    """
    out = copy.deepcopy(model)
    X = out.inputs.validate(X)
    out._X, out._y = X, np.asarray(y, dtype=np.float64)
    out._domains = (np.zeros(y.size, dtype=np.int64) if groups is None
                    else encode_domains(np.asarray(groups), y.size))
    out._ood_threshold = None
    out.y_mean = float(y.mean())
    out.y_std = float(y.std()) if y.std() > 1e-12 else 1.0
    return out


def _parts(head: GPHead) -> list[tuple[str, Any]]:
    parts: list[tuple[str, Any]] = [("base", head.base_k)]
    if head.lin_k is not None:
        parts.append(("linear", head.lin_k))
    if head.learned_on:
        parts.append(("phi", head.phi_k))
    return parts


def rescale_head(head: GPHead, x: Tensor, ys: Tensor) -> dict[str, float]:
    """Refit the scale of each kernel part, the mean and the noise of ``head`` on ``(x, ys)``.

    Marginal likelihood of a ``SingleTaskGP`` whose kernel is the head's parts, frozen,
    each times a multiplier with a LogNormal(0, 1) prior; the fitted multipliers are then
    written into the head. Returns the multipliers.
    """
    from botorch.models import SingleTaskGP

    parts = _parts(head)
    kernels = []
    for _, part in parts:
        k = ScaleKernel(FrozenKernel(part), outputscale_prior=LogNormalPrior(0.0, 1.0))
        k.outputscale = 1.0
        kernels.append(k)
    noise = float(head.noise_var.detach())
    likelihood = gpytorch.likelihoods.GaussianLikelihood(
        noise_prior=LogNormalPrior(math.log(noise), 1.0),
        noise_constraint=gpytorch.constraints.GreaterThan(1e-4))
    likelihood.noise = max(noise, 2e-4)
    gp = SingleTaskGP(x, ys.unsqueeze(-1), likelihood=likelihood,
                      covar_module=kernels[0] if len(kernels) == 1 else AdditiveKernel(*kernels),
                      outcome_transform=None).to(torch.float64)
    fit_mll(gp)
    factors = {name: float(k.outputscale.detach()) for (name, _), k in zip(parts, kernels,
                                                                            strict=True)}
    with torch.no_grad():
        head.base_k.outputscale = head.base_k.outputscale * factors["base"]
        if head.lin_k is not None and "linear" in factors:
            head.lin_k.base.variance = head.lin_k.base.variance * factors["linear"]
        if head.phi_k is not None and "phi" in factors:
            head.phi_k.outputscale = head.phi_k.outputscale * factors["phi"]
        head.mean_module.constant = gp.mean_module.constant.detach().reshape(
            head.mean_module.constant.shape)
        head.likelihood.noise = gp.likelihood.noise.detach().reshape(head.likelihood.noise.shape)
    return factors


def _episodes(n: int, domains: np.ndarray, steps: int,
              seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    labels = np.unique(domains)
    out = []
    for _ in range(steps):
        if labels.size >= 2:
            held = rng.choice(labels)
            query, support = np.flatnonzero(domains == held), np.flatnonzero(domains != held)
        else:
            perm = rng.permutation(n)
            cut = max(1, n // 3)
            query, support = perm[:cut], perm[cut:]
        out.append((support, query))
    return out


class FinetuneTransfer(TransferModel):
    """Fine-tune transfer (see the module docstring).

    Args:
        source: The fitted source model.
        steps: Fine-tuning steps of ``phi`` on target episodes.
        lr: Their learning rate (small: ``phi`` is already trained).
        min_rows: Fewest target rows for fine-tuning ``phi`` (fewer: rescale only).
        seed: Seed of the episodes.
    """

    method = "finetune"
    adapt_mode = "fine-tune"

    def __init__(self, source: SourceModel, steps: int = 50, lr: float = 1e-4,
                 min_rows: int = 8, seed: int = 0) -> None:
        super().__init__(source)
        self.steps, self.lr, self.min_rows, self.seed = steps, lr, min_rows, seed
        self.kernel_source = 0
        self.model: Any = None
        self.factors: list[dict[str, float]] = []

    def fit(self, X: np.ndarray, y: np.ndarray, groups: Any = None) -> FinetuneTransfer:
        """Re-target, rescale and fine-tune on target rows ``(X, y)`` (``groups``: domains)."""
        X, y = self.check_X(X), self.check_y(y, np.asarray(X).shape[0])
        pred, _ = self.source.predict(X)
        self.kernel_source = best_source(pred, y)
        model = retarget(self.source.models[self.kernel_source], X, y, groups)
        x = torch.as_tensor(X)
        ys = torch.as_tensor((y - model.y_mean) / model.y_std)
        self.factors = []
        for i, head in enumerate(model.members):
            head.eval()
            self.factors.append(rescale_head(head, x, ys))
            if head.learned_on and y.size >= self.min_rows and self.steps > 0:
                self._finetune(head, x, ys, model._domains, self.seed + 101 + i)
        model._refresh_caches()
        self.model = model
        self.y_mean, self.y_std = model.y_mean, model.y_std
        self.X, self.y = X, y
        return self

    def _finetune(self, head: GPHead, x: Tensor, ys: Tensor, domains: np.ndarray,
                  seed: int) -> None:
        assert head.encoder is not None and head.phi_k is not None
        params = list(head.encoder.parameters()) + [head.phi_k.raw_outputscale]
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=0.0)
        torch.manual_seed(seed)
        head.train()
        for s, q in _episodes(ys.shape[0], domains, self.steps, seed):
            si, qi = torch.as_tensor(s), torch.as_tensor(q)
            opt.zero_grad()
            mean, var = head.query_moments(x[si], ys[si], x[qi])
            gaussian_query_loss(mean, var, ys[qi], "nll").backward()
            opt.step()
        head.eval()

    # ------------------------------------------------------------------ inference
    def joint(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Latent joint posterior in target units (the re-targeted surrogate's)."""
        return self.model.joint_posterior_torch(x)

    @property
    def noise_var(self) -> float:
        """Target noise variance (target units squared)."""
        return float(self.model.noise_std**2)

    def predict(self, X: Any, return_std: bool = False
                ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predict the target (the surrogate's :meth:`~E2TSurrogate.predict`)."""
        return self.model.predict(self.check_X(X), return_std=return_std)

    def _condition(self, X: np.ndarray, y: np.ndarray) -> None:
        self.model.condition(X, y)

    # ------------------------------------------------------------------ Surrogate protocol
    def predict_with_distance(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The fine-tuned surrogate's mean, std and domain distance (leverage)."""
        return self.model.predict_with_distance(self.check_X(X))

    def out_of_domain(self, X: Any, distance: np.ndarray | None = None) -> np.ndarray:
        """The fine-tuned surrogate's rule (held-out target domains)."""
        return self.model.out_of_domain(self.check_X(X), distance)

    def posterior(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """The fine-tuned surrogate's latent joint posterior."""
        return self.model.posterior(self.check_X(X))

    def adapt(self, X: Any, y: Any, groups: Any = None, *, steps: int = 100,
              lr: float = 1e-4) -> FinetuneTransfer:
        """Few-shot fine-tune the re-targeted surrogate on new target rows (its ``adapt``)."""
        X = self.check_X(X)
        y = self.check_y(y, X.shape[0])
        self.model.adapt(X, y, groups, steps=steps, lr=lr)
        self.X, self.y = np.concatenate([self.X, X]), np.concatenate([self.y, y])
        return self

    def to_botorch(self) -> Any:
        """The surrogate's own BoTorch model (a ``SingleTaskGP`` for one member)."""
        return self.model.to_botorch()

    def info(self) -> dict[str, Any]:
        """Which source's surrogate was re-targeted, the scale multipliers, the noise."""
        return {"kernel_source": self.source.names[self.kernel_source],
                "scale_factors": self.factors, "noise_std": math.sqrt(self.noise_var),
                "phi_active": [bool(h.phi_active) for h in self.model.members],
                "n_target": int(self.y.size)}

    # ------------------------------------------------------------------ persistence
    def _save_state(self, out: Path) -> dict[str, Any]:
        self.model.save(out / "model")
        return {"kernel_source": self.kernel_source, "steps": self.steps, "lr": self.lr,
                "min_rows": self.min_rows, "seed": self.seed}

    @classmethod
    def _load_state(cls, src: Path, meta: dict[str, Any], source: SourceModel
                    ) -> FinetuneTransfer:
        opts = meta["state"]
        model = cls(source, int(opts["steps"]), float(opts["lr"]), int(opts["min_rows"]),
                    int(opts["seed"]))
        model.kernel_source = int(opts["kernel_source"])
        model.model = E2TSurrogate.load(src / "model", device="cpu")
        model.y_mean, model.y_std = model.model.y_mean, model.model.y_std
        model.X = np.asarray(model.model._X, dtype=np.float64)
        model.y = np.asarray(model.model._y, dtype=np.float64)
        model.factors = list(meta.get("info", {}).get("scale_factors", []))
        return model
