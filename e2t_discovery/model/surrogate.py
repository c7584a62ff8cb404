"""The E2T surrogate: an episodically meta-trained encoder with a Bayesian linear head.

Training (:meth:`E2TSurrogate.fit`) repeats: draw an episode (support S, query Q from
other domains), embed both with the encoder, fit the head in closed form on ``phi(S)``,
and take an Adam step on the query loss (Gaussian NLL or MSE). Validation uses held-out
*training* domains only. At inference the support set is all training data plus any
conditioned points, and the head posterior is computed once, so prediction is one
encoder pass plus a small triangular solve, and :meth:`E2TSurrogate.condition` updates
predictions at once without a gradient step.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from e2t_discovery.exceptions import ModelError, NotFittedError
from e2t_discovery.model.config import SurrogateConfig
from e2t_discovery.model.episodes import EpisodeSampler, cluster_domains, encode_domains
from e2t_discovery.model.head import BayesianLinearHead, HeadPosterior
from e2t_discovery.model.inputs import InputKind, make_inputs
from e2t_discovery.progress import Progress, progress_bar

__all__ = ["E2TSurrogate", "SurrogateConfig"]

FORMAT_VERSION = 1


class _Member(nn.Module):
    """One ensemble member: an encoder and a Bayesian head."""

    def __init__(self, encoder: nn.Module, config: SurrogateConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = BayesianLinearHead(noise_var=0.5, ridge_penalty=config.ridge_lambda,
                                       learn_penalty=config.head == "bayes")


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


#: Training domains left out in turn to find :meth:`E2TSurrogate.out_of_domain_threshold`.
OOD_MAX_DOMAINS = 12


#: Fits on at most this many rows run on one CPU thread (see :func:`_threads_for`).
SINGLE_THREAD_ROWS = 512


@contextmanager
def _threads_for(n_rows: int, device: torch.device) -> Iterator[None]:
    """One intra-op thread for small CPU fits, restored afterwards.

    A small fit is thousands of tiny tensor operations; spread over several OpenMP
    threads, each pays a barrier, and on a busy machine a descheduled thread stalls the
    rest. Measured on 2 cores (30-row fit of the shipped polymer model, machine loaded):
    ``e2t train`` 12.7-17.1 s wall and 3.9 s CPU on one thread against 18.2-21.7 s wall
    and 4.9 s CPU on two.
    """
    before = torch.get_num_threads()
    if device.type != "cpu" or n_rows > SINGLE_THREAD_ROWS or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _rows(X: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of raw inputs (an array, or a list such as crystal graphs)."""
    return X[idx] if isinstance(X, np.ndarray) else [X[int(i)] for i in idx]


class E2TSurrogate:
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
        self.history: list[dict[str, float]] = []

    # ------------------------------------------------------------------ properties
    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` (or :meth:`load`) has run."""
        return bool(self.members)

    @property
    def n_support(self) -> int:
        """Number of support points used at inference (training + conditioned)."""
        return int(self._y.shape[0])

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
    def fit(self, X: Any, y: Any, groups: Any = None, *, progress: bool = True) -> E2TSurrogate:
        """Meta-train the encoder on extrapolative episodes.

        Args:
            X: ``n x d`` array (``encoder="mlp"``) or list of ``n`` CrystalGraph
                (``encoder="graph"``).
            y: ``n`` targets.
            groups: ``n`` domain labels; None derives domains by k-means on ``X``.
            progress: Show progress (a bar on a terminal, else a plain line every 10 s).

        Returns:
            self, fitted.

        Raises:
            ModelError: on mismatched shapes, non-finite values or too few rows.
        """
        cfg = self.config
        self.inputs = make_inputs(cfg)
        X = self.inputs.validate(X)
        y = self._check_y(y, self.inputs.length(X))
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
        self.members, self.history = [], []
        bar = progress_bar(cfg.steps * cfg.ensemble, desc="E2T meta-training", unit="steps",
                           enabled=progress, leave=False)
        try:
            with _threads_for(y.shape[0], self.device):
                self._train_members(X, (y - self.y_mean) / self.y_std, domains, bar)
        finally:
            bar.close()
        self._refresh_caches()
        return self

    def _train_members(self, X: Any, ys_np: np.ndarray, domains: np.ndarray,
                       bar: Progress) -> None:
        """Train ``config.ensemble`` members on standardized targets into ``members``."""
        prepared = self.inputs.prepare(X, self.device)
        ys = torch.as_tensor(ys_np, device=self.device)
        for i in range(self.config.ensemble):
            self.members.append(self._train_member(prepared, ys, domains,
                                                   self.config.seed + i, bar))

    def _new_member(self, X: Any) -> nn.Module:
        """A fresh, untrained member for support inputs ``X`` (used by :meth:`load`)."""
        return _Member(self.inputs.build_encoder(self.config, X), self.config)

    def _noise_vars(self) -> np.ndarray:
        """Noise variance of each member (standardized units)."""
        return np.array([float(c.post.noise_var.detach()) for c in self._caches])

    @staticmethod
    def _check_y(y: Any, n: int) -> np.ndarray:
        arr = np.asarray(y, dtype=np.float64).reshape(-1)
        if arr.shape[0] != n:
            raise ModelError(f"y has {arr.shape[0]} values for {n} inputs; pass one per row")
        if not np.isfinite(arr).all():
            raise ModelError("y contains NaN or infinite values; drop those rows first")
        return arr

    def _split_validation(self, domains: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Row indices (train, validation): whole domains held out, only training data."""
        uniq = np.unique(domains)
        n_val = int(round(self.config.val_fraction * uniq.size))
        if self.config.val_fraction <= 0 or uniq.size < 3:
            return np.arange(domains.size), np.zeros(0, dtype=np.int64)
        n_val = min(max(1, n_val), uniq.size - 2)
        val_doms = np.random.default_rng(seed + 7919).choice(uniq, size=n_val, replace=False)
        is_val = np.isin(domains, val_doms)
        return np.flatnonzero(~is_val), np.flatnonzero(is_val)

    def _episode_loss(self, member: _Member, prepared: Any, ys: Tensor,
                      support: np.ndarray, query: np.ndarray) -> Tensor:
        idx = np.concatenate([support, query])
        phi = member.encoder(self.inputs.select(prepared, idx))
        phi_s, phi_q = phi[: support.size], phi[support.size:]
        post = member.head.fit(phi_s, ys[torch.as_tensor(support, device=ys.device)])
        y_q = ys[torch.as_tensor(query, device=ys.device)]
        return member.head.loss(post, phi_q, y_q, self.config.loss)

    def _train_member(self, prepared: Any, ys: Tensor, domains: np.ndarray, seed: int,
                      bar: Progress) -> _Member:
        cfg = self.config
        torch.manual_seed(seed)
        member = _Member(self.inputs.build_encoder(cfg, self._X), cfg).to(self.device)
        tr, val = self._split_validation(domains, seed)
        policy = cfg.policy if np.unique(domains[tr]).size >= 2 else "same"
        sampler = EpisodeSampler(domains[tr], policy, n_support=cfg.n_support,
                                 n_query=cfg.n_query, n_ways=cfg.n_ways,
                                 support_ways=cfg.support_ways, seed=seed)
        opt = torch.optim.AdamW([p for p in member.parameters() if p.requires_grad],
                                lr=cfg.lr, weight_decay=cfg.weight_decay)
        best, best_state, bad = math.inf, None, 0
        for step in range(1, cfg.steps + 1):
            member.train()
            opt.zero_grad()
            episodes = [sampler.sample() for _ in range(cfg.episodes_per_step)]
            loss = torch.stack([
                self._episode_loss(member, prepared, ys, tr[ep.support], tr[ep.query])
                for ep in episodes
            ]).mean()
            loss.backward()
            opt.step()
            bar.update(1)
            if val.size and (step % cfg.eval_every == 0 or step == cfg.steps):
                score = self._validation_loss(member, prepared, ys, tr, val)
                self.history.append({"seed": seed, "step": step, "train": float(loss.detach()),
                                     "val": score})
                bar.set_postfix(val=f"{score:.3f}")
                if score < best - 1e-4:
                    best, bad = score, 0
                    best_state = {k: v.detach().clone() for k, v in member.state_dict().items()}
                else:
                    bad += 1
                    if bad >= cfg.patience:
                        bar.update(cfg.steps - step)
                        break
        if best_state is not None:
            member.load_state_dict(best_state)
        if cfg.calibrate and val.size:
            self._calibrate_noise(member, prepared, ys, tr, val)
        elif cfg.calibrate and cfg.loss == "mse":  # the MSE loss never trains the noise
            self._calibrate_noise_episodes(member, prepared, ys, tr, sampler)
        member.eval()
        return member

    @torch.no_grad()
    def _embed_prepared(self, member: _Member, prepared: Any, idx: np.ndarray) -> Tensor:
        member.eval()
        bs = self.config.batch_size
        parts = [member.encoder(self.inputs.select(prepared, idx[i:i + bs]))
                 for i in range(0, idx.size, bs)]
        if not parts:  # an empty batch embeds to an empty matrix
            width = int(member.encoder.out_dim)  # type: ignore[arg-type]
            return torch.zeros(0, width, device=self.device)
        return torch.cat(parts)

    @torch.no_grad()
    def _validation_loss(self, member: _Member, prepared: Any, ys: Tensor,
                         tr: np.ndarray, val: np.ndarray) -> float:
        """Query loss on held-out domains with every training row as support."""
        phi_tr = self._embed_prepared(member, prepared, tr)
        phi_val = self._embed_prepared(member, prepared, val)
        post = member.head.fit(phi_tr, ys[torch.as_tensor(tr, device=ys.device)])
        y_val = ys[torch.as_tensor(val, device=ys.device)]
        return float(member.head.loss(post, phi_val, y_val, self.config.loss))

    def _scaled_sq_errors(self, member: _Member, prepared: Any, ys: Tensor,
                          support: np.ndarray, query: np.ndarray) -> Tensor:
        """``err^2 / (1 + h)`` of the query given the support (``h`` = leverage + 1/n).

        With predictive variance ``s2 * (1 + h)`` (``h`` fixed by the encoder and the ridge
        penalty) the Gaussian NLL is minimized in closed form by the mean of these.
        """
        phi_s = self._embed_prepared(member, prepared, support)
        phi_q = self._embed_prepared(member, prepared, query)
        post = member.head.fit(phi_s, ys[torch.as_tensor(support, device=ys.device)])
        err2 = (post.mean(phi_q) - ys[torch.as_tensor(query, device=ys.device)]) ** 2
        return err2 / (1.0 + post.leverage(phi_q) + 1.0 / post.n)

    @staticmethod
    def _set_noise(member: _Member, scaled: Tensor) -> None:
        member.head.log_noise_var.data.fill_(math.log(float(scaled.mean().clamp_min(1e-6))))

    @torch.no_grad()
    def _calibrate_noise(self, member: _Member, prepared: Any, ys: Tensor,
                         tr: np.ndarray, val: np.ndarray) -> None:
        """Set the noise variance to its maximum-likelihood value on held-out domains."""
        self._set_noise(member, self._scaled_sq_errors(member, prepared, ys, tr, val))

    @torch.no_grad()
    def _calibrate_noise_episodes(self, member: _Member, prepared: Any, ys: Tensor,
                                  tr: np.ndarray, sampler: EpisodeSampler,
                                  n_episodes: int = 32) -> None:
        """Set the noise variance to its maximum-likelihood value on training episodes.

        Used when no validation domains are held out and the loss (MSE) does not train the
        noise: the query errors of fresh extrapolative episodes (query domains unseen by
        the support) take the place of held-out domains. Episode supports are smaller than
        the full training set used at inference, so the estimate errs on the wide side.
        """
        episodes = [sampler.sample() for _ in range(n_episodes)]
        self._set_noise(member, torch.cat([
            self._scaled_sq_errors(member, prepared, ys, tr[ep.support], tr[ep.query])
            for ep in episodes]))

    # ------------------------------------------------------------------ inference state
    def _refresh_caches(self) -> None:
        """Embed the support set and compute each member's head posterior."""
        prepared = self.inputs.prepare(self._X, self.device)
        ys = torch.as_tensor((self._y - self.y_mean) / self.y_std, device=self.device)
        self._caches = []
        for member in self.members:
            phi = self._embed_prepared(member, prepared, np.arange(self.n_support))
            with torch.no_grad():
                post = member.head.fit(phi, ys)
            self._caches.append(_Cache(phi=phi, post=post))

    def _embed_all(self, X: Any) -> list[Tensor]:
        """Embeddings of canonical inputs by every member: list of ``n x p``."""
        prepared = self.inputs.prepare(X, self.device)
        idx = np.arange(self.inputs.length(X))
        return [self._embed_prepared(m, prepared, idx) for m in self.members]

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

    def out_of_domain_threshold(self, *, quantile: float = 0.95,
                                max_domains: int = OOD_MAX_DOMAINS) -> float:
        """Domain distance beyond which an input is farther out than the training domains show.

        Each training domain (the ``max_domains`` largest) is left out of the support in
        turn and the distances of its rows to the rest are pooled: the threshold is their
        ``quantile``. An input above it is farther from the support than held-out training
        domains were from the others, which is also where the variance calibration (fitted
        on held-out domains) has not been checked. ``inf`` with fewer than two domains.
        Computed once per support set (the support itself is left unchanged).
        """
        self._check_fitted()
        if self._ood_threshold is not None:
            return self._ood_threshold
        labels, counts = np.unique(self._domains, return_counts=True)
        if labels.size < 2:
            self._ood_threshold = math.inf
            return self._ood_threshold
        chosen = labels[np.argsort(-counts, kind="stable")[:max_domains]]
        X, y, domains, caches = self._X, self._y, self._domains, self._caches
        pooled: list[np.ndarray] = []
        try:
            for label in chosen:
                held = np.flatnonzero(domains == label)
                rest = np.flatnonzero(domains != label)
                self._X, self._y = _rows(X, rest), y[rest]
                self._domains = domains[rest]
                self._refresh_caches()
                pooled.append(np.asarray(self.domain_distance(_rows(X, held)), dtype=float))
        finally:  # the caches of the full support are put back as they were
            self._X, self._y, self._domains, self._caches = X, y, domains, caches
        self._ood_threshold = float(np.quantile(np.concatenate(pooled), quantile))
        return self._ood_threshold

    def out_of_domain(self, X: Any, distance: np.ndarray | None = None) -> np.ndarray:
        """Boolean per input: domain distance above :meth:`out_of_domain_threshold`."""
        dist = self.domain_distance(X) if distance is None else np.asarray(distance)
        return np.asarray(dist, dtype=float) > self.out_of_domain_threshold()

    def embed(self, X: Any) -> np.ndarray:
        """Embeddings ``n x p`` of the first ensemble member."""
        self._check_fitted()
        return self._embed_all(self.inputs.validate(X))[0].cpu().numpy()

    # ------------------------------------------------------------------ updating
    def condition(self, X: Any, y: Any) -> E2TSurrogate:
        """Add support data without any gradient step; predictions change at once.

        The new points form one new domain (used by later :meth:`adapt` calls).
        """
        self._check_fitted()
        X = self.inputs.validate(X)
        y = self._check_y(y, self.inputs.length(X))
        new_dom = int(self._domains.max()) + 1 if self._domains.size else 0
        self._append(X, y, np.full(y.shape[0], new_dom, dtype=np.int64))
        return self

    def _extend(self, X: Any, y: np.ndarray, domains: np.ndarray) -> None:
        """Append validated points to the support (caches not refreshed)."""
        self._ood_threshold = None
        self._X = self.inputs.concat(self._X, X)
        self._y = np.concatenate([self._y, y])
        self._domains = np.concatenate([self._domains, domains])

    def _append(self, X: Any, y: np.ndarray, domains: np.ndarray) -> None:
        self._extend(X, y, domains)
        # Re-embedding the whole support (one encoder pass, milliseconds for thousands of
        # rows) keeps the batching identical to a freshly loaded model, so save -> load
        # reproduces predictions bit for bit.
        self._refresh_caches()

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
        prepared = self.inputs.prepare(self._X, self.device)
        ys = torch.as_tensor((self._y - self.y_mean) / self.y_std, device=self.device)
        for i, member in enumerate(self.members):
            self._finetune(member, prepared, ys, new_rows, steps, lr, self.config.seed + 101 + i)
        self._refresh_caches()
        return self

    def _add_support(self, X: Any, y: Any, groups: Any) -> np.ndarray:
        """Validate new points, append them to the support as new domains; return their rows.

        The inference caches are not refreshed (the caller fine-tunes, then refreshes).
        """
        X = self.inputs.validate(X)
        y = self._check_y(y, self.inputs.length(X))
        n_old = self.n_support
        offset = int(self._domains.max()) + 1
        new_doms = (np.full(y.shape[0], offset, dtype=np.int64) if groups is None
                    else encode_domains(groups, y.shape[0]) + offset)
        self._extend(X, y, new_doms)
        return np.arange(n_old, self.n_support)

    def _adapt_episodes(self, new_rows: np.ndarray, steps: int,
                        seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(support, query)`` rows of the fine-tuning steps (see :meth:`adapt`)."""
        cfg = self.config
        rng = np.random.default_rng(seed)
        old = np.setdiff1d(np.arange(self.n_support), new_rows)
        old_doms = self._domains[old]
        sampler = (EpisodeSampler(old_doms, cfg.policy, n_support=cfg.n_support,
                                  n_query=cfg.n_query, n_ways=cfg.n_ways, seed=seed)
                   if np.unique(old_doms).size >= 2 else None)
        for step in range(steps):
            if step % 2 == 0 or sampler is None:
                query = rng.choice(new_rows, size=min(cfg.n_query, new_rows.size), replace=False)
                support = rng.choice(old, size=min(cfg.n_support, old.size), replace=False)
            else:
                ep = sampler.sample()
                support, query = old[ep.support], old[ep.query]
            yield support, query

    def _finetune(self, member: _Member, prepared: Any, ys: Tensor, new_rows: np.ndarray,
                  steps: int, lr: float, seed: int) -> None:
        torch.manual_seed(seed)  # dropout masks: from the seed, not the process's state
        opt = torch.optim.AdamW([p for p in member.encoder.parameters()], lr=lr,
                                weight_decay=self.config.weight_decay)
        member.train()
        for support, query in self._adapt_episodes(new_rows, steps, seed):
            opt.zero_grad()
            self._episode_loss(member, prepared, ys, support, query).backward()
            opt.step()
        member.eval()

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> None:
        """Write ``config.json``, ``weights.safetensors`` and ``support.safetensors``.

        No pickle: weights and the support set are safetensors, the rest is JSON.
        """
        from safetensors.numpy import save_file as save_np
        from safetensors.torch import save_file as save_torch

        self._check_fitted()
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        weights = {f"member{i}.{k}": v.detach().cpu().clone().contiguous()
                   for i, m in enumerate(self.members) for k, v in m.state_dict().items()}
        weights.update({k: torch.from_numpy(np.ascontiguousarray(v))
                        for k, v in self.inputs.state().items()})
        save_torch(weights, str(out / "weights.safetensors"))
        support = self.inputs.to_arrays(self._X)
        support.update({"y": self._y, "domains": self._domains})
        save_np({k: np.ascontiguousarray(v) for k, v in support.items()},
                str(out / "support.safetensors"))
        meta = {"format": FORMAT_VERSION, "config": self.config.to_dict(),
                "y_mean": self.y_mean, "y_std": self.y_std, "n_members": len(self.members),
                "history": self.history}
        (out / "config.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path, *, device: str | None = None) -> E2TSurrogate:
        """Load a model written by :meth:`save`.

        Args:
            directory: The folder given to :meth:`save`.
            device: Override the saved device setting (``auto``, ``cpu``, ``cuda``).

        Raises:
            ModelError: if files are missing, corrupt or from another format version.
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load_file as load_np
        from safetensors.torch import load_file as load_torch

        src = Path(directory)
        try:
            meta = json.loads((src / "config.json").read_text())
            weights = load_torch(str(src / "weights.safetensors"))
            support = load_np(str(src / "support.safetensors"))
        except (OSError, json.JSONDecodeError, SafetensorError) as exc:
            raise ModelError(
                f"cannot load model from {src}: {exc}; re-train or re-save it") from exc
        if meta.get("format") != FORMAT_VERSION:
            raise ModelError(f"model in {src} has format {meta.get('format')!r}, this code reads "
                             f"{FORMAT_VERSION}; re-train it with this version")
        config = SurrogateConfig.from_dict(meta["config"])
        if device is not None:
            config = config.replace(device=device)
        model = cls(config)
        model.inputs.load_state({k: v.numpy() for k, v in weights.items()
                                 if k.startswith("input.")}, config)
        model.y_mean, model.y_std = float(meta["y_mean"]), float(meta["y_std"])
        model.history = list(meta.get("history", []))
        model._X = model.inputs.from_arrays(support)
        model._y = np.asarray(support["y"], dtype=np.float64)
        model._domains = np.asarray(support["domains"], dtype=np.int64)
        for i in range(int(meta["n_members"])):
            prefix = f"member{i}."
            state = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
            member = model._new_member(model._X)
            try:
                member.load_state_dict(state)
            except RuntimeError as exc:
                raise ModelError(f"weights in {src} do not match the saved config: {exc}") from exc
            model.members.append(member.to(model.device).eval())
        model._refresh_caches()
        return model

    def to_botorch(self):  # noqa: ANN201 - botorch is imported lazily
        """Return a BoTorch ``Model`` over this surrogate's joint predictive."""
        from e2t_discovery.model.botorch_model import E2TBoTorchModel

        self._check_fitted()
        return E2TBoTorchModel(self)
