"""Episodic training of the surrogate's members: episodes, validation, noise calibration.

Shared by both heads:

- :func:`split_validation`: whole training domains held out (for early stopping and
  calibration), only training data;
- :func:`training_sampler` and :func:`adapt_episodes`: the episodes of meta-training and
  of few-shot fine-tuning;
- :func:`threads_for`: one intra-op thread for small CPU fits.

The Bayesian linear head's members (:class:`Member`) are trained by
:class:`MemberTrainer`: repeat (draw an episode, embed support and query, fit the head in
closed form on ``phi(S)``, take an AdamW step on the query loss), keep the state that
scores best on the held-out domains, then set the noise variance to its
maximum-likelihood value out of domain. The GP head trains its own way
(:mod:`e2t_discovery.model.gp_surrogate`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from e2t_discovery.model.config import SurrogateConfig
from e2t_discovery.model.episodes import EpisodeSampler
from e2t_discovery.model.head import BayesianLinearHead
from e2t_discovery.model.inputs import InputKind
from e2t_discovery.progress import Progress

__all__ = ["Member", "MemberTrainer", "SINGLE_THREAD_ROWS", "adapt_episodes", "embed_rows",
           "split_validation", "threads_for", "training_sampler"]

#: Fits on at most this many rows run on one CPU thread (see :func:`threads_for`).
SINGLE_THREAD_ROWS = 512


@contextmanager
def threads_for(n_rows: int, device: torch.device) -> Iterator[None]:
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


def split_validation(domains: np.ndarray, val_fraction: float, seed: int,
                     preferred: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, validation): whole domains held out, only training data.

    Args:
        domains: ``n`` integer domain labels of the training rows.
        val_fraction: Share of the domains to hold out (at least one, and two are always
            left for training); 0, or fewer than three domains, holds out nothing.
        seed: The member's seed.
        preferred: Every domain label, most wanted first: the first ones are held out
            (the seed is then unused); None draws them at random.
    """
    uniq = np.unique(domains)
    n_val = int(round(val_fraction * uniq.size))
    if val_fraction <= 0 or uniq.size < 3:
        return np.arange(domains.size), np.zeros(0, dtype=np.int64)
    n_val = min(max(1, n_val), uniq.size - 2)
    if preferred is not None:
        if sorted(preferred.tolist()) != uniq.tolist():
            raise ValueError("preferred must hold every domain label exactly once")
        val_doms = preferred[:n_val]
    else:
        val_doms = np.random.default_rng(seed + 7919).choice(uniq, size=n_val, replace=False)
    is_val = np.isin(domains, val_doms)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def training_sampler(domains: np.ndarray, tr: np.ndarray, config: SurrogateConfig,
                     seed: int) -> EpisodeSampler:
    """Episodes over training rows ``tr`` (positions into ``tr``); ``same`` on one domain."""
    policy = config.policy if np.unique(domains[tr]).size >= 2 else "same"
    return EpisodeSampler(domains[tr], policy, n_support=config.n_support,
                          n_query=config.n_query, n_ways=config.n_ways,
                          support_ways=config.support_ways, seed=seed)


def adapt_episodes(domains: np.ndarray, new_rows: np.ndarray, config: SurrogateConfig,
                   steps: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(support, query)`` rows of few-shot fine-tuning on support rows ``new_rows``.

    Even steps query the new points (support: source rows of other domains); odd steps
    are ordinary extrapolative episodes of the source data, so the encoder does not forget
    the source domains (with fewer than two source domains every step queries the new
    points).

    Args:
        domains: Domain label of every support row, new rows included.
        new_rows: Rows of the new points.
        config: Episode sizes and policy.
        steps: Number of episodes.
        seed: Seed of the draws.
    """
    rng = np.random.default_rng(seed)
    old = np.setdiff1d(np.arange(domains.size), new_rows)
    old_doms = domains[old]
    sampler = (EpisodeSampler(old_doms, config.policy, n_support=config.n_support,
                              n_query=config.n_query, n_ways=config.n_ways, seed=seed)
               if np.unique(old_doms).size >= 2 else None)
    for step in range(steps):
        if step % 2 == 0 or sampler is None:
            query = rng.choice(new_rows, size=min(config.n_query, new_rows.size),
                               replace=False)
            support = rng.choice(old, size=min(config.n_support, old.size), replace=False)
        else:
            ep = sampler.sample()
            support, query = old[ep.support], old[ep.query]
        yield support, query


class Member(nn.Module):
    """One ensemble member of the linear-head surrogate: an encoder and a Bayesian head."""

    def __init__(self, encoder: nn.Module, config: SurrogateConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = BayesianLinearHead(noise_var=0.5, ridge_penalty=config.ridge_lambda,
                                       learn_penalty=config.head == "bayes")


@torch.no_grad()
def embed_rows(member: Member, inputs: InputKind, prepared: Any, idx: np.ndarray,
               batch_size: int, device: torch.device) -> Tensor:
    """Embeddings ``len(idx) x p`` of prepared rows ``idx``, in batches, in eval mode."""
    member.eval()
    parts = [member.encoder(inputs.select(prepared, idx[i:i + batch_size]))
             for i in range(0, idx.size, batch_size)]
    if not parts:  # an empty batch embeds to an empty matrix
        width = int(member.encoder.out_dim)  # type: ignore[arg-type]
        return torch.zeros(0, width, device=device)
    return torch.cat(parts)


@dataclass
class MemberTrainer:
    """Trains and fine-tunes linear-head members on one prepared support set.

    Attributes:
        config: Hyperparameters.
        inputs: The fitted input kind.
        prepared: The support inputs as :meth:`InputKind.prepare` gives them.
        ys: Standardized targets of every support row.
        device: Where members live.
        history: Validation records (``seed, step, train, val``) are appended here.
    """

    config: SurrogateConfig
    inputs: InputKind
    prepared: Any
    ys: Tensor
    device: torch.device
    history: list[dict[str, float]]

    def train(self, X: Any, domains: np.ndarray, seed: int, bar: Progress) -> Member:
        """Meta-train a new member (encoder initialized from ``seed``) on episodes.

        Args:
            X: Canonical training inputs (the encoder is built for them).
            domains: ``n`` integer domain labels.
            seed: The member's seed.
            bar: Progress, advanced once per step.
        """
        cfg = self.config
        torch.manual_seed(seed)
        member = Member(self.inputs.build_encoder(cfg, X), cfg).to(self.device)
        tr, val = split_validation(domains, cfg.val_fraction, seed)
        sampler = training_sampler(domains, tr, cfg, seed)
        opt = torch.optim.AdamW([p for p in member.parameters() if p.requires_grad],
                                lr=cfg.lr, weight_decay=cfg.weight_decay)
        best, best_state, bad = math.inf, None, 0
        for step in range(1, cfg.steps + 1):
            member.train()
            opt.zero_grad()
            episodes = [sampler.sample() for _ in range(cfg.episodes_per_step)]
            loss = torch.stack([
                self.episode_loss(member, tr[ep.support], tr[ep.query]) for ep in episodes
            ]).mean()
            loss.backward()
            opt.step()
            bar.update(1)
            if val.size and (step % cfg.eval_every == 0 or step == cfg.steps):
                score = self._validation_loss(member, tr, val)
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
            self._calibrate_noise(member, tr, val)
        elif cfg.calibrate and cfg.loss == "mse":  # the MSE loss never trains the noise
            self._calibrate_noise_episodes(member, tr, sampler)
        member.eval()
        return member

    def finetune(self, member: Member, episodes: Iterable[tuple[np.ndarray, np.ndarray]],
                 lr: float, seed: int) -> None:
        """Fine-tune ``member``'s encoder on ``(support, query)`` row episodes.

        Args:
            member: A trained member (changed in place).
            episodes: Support and query rows of each step (see :func:`adapt_episodes`).
            lr: Learning rate (small: the encoder is already trained).
            seed: Seed of the dropout masks.
        """
        torch.manual_seed(seed)  # dropout masks: from the seed, not the process's state
        opt = torch.optim.AdamW([p for p in member.encoder.parameters()], lr=lr,
                                weight_decay=self.config.weight_decay)
        member.train()
        for support, query in episodes:
            opt.zero_grad()
            self.episode_loss(member, support, query).backward()
            opt.step()
        member.eval()

    def episode_loss(self, member: Member, support: np.ndarray, query: np.ndarray) -> Tensor:
        """Query loss (``config.loss``) of the head fitted on the support rows."""
        idx = np.concatenate([support, query])
        phi = member.encoder(self.inputs.select(self.prepared, idx))
        phi_s, phi_q = phi[: support.size], phi[support.size:]
        post = member.head.fit(phi_s, self._targets(support))
        return member.head.loss(post, phi_q, self._targets(query), self.config.loss)

    def _targets(self, rows: np.ndarray) -> Tensor:
        return self.ys[torch.as_tensor(rows, device=self.ys.device)]

    def _embed(self, member: Member, rows: np.ndarray) -> Tensor:
        return embed_rows(member, self.inputs, self.prepared, rows, self.config.batch_size,
                          self.device)

    @torch.no_grad()
    def _validation_loss(self, member: Member, tr: np.ndarray, val: np.ndarray) -> float:
        """Query loss on held-out domains with every training row as support."""
        phi_tr = self._embed(member, tr)
        phi_val = self._embed(member, val)
        post = member.head.fit(phi_tr, self._targets(tr))
        return float(member.head.loss(post, phi_val, self._targets(val), self.config.loss))

    def _scaled_sq_errors(self, member: Member, support: np.ndarray,
                          query: np.ndarray) -> Tensor:
        """``err^2 / (1 + h)`` of the query given the support (``h`` = leverage + 1/n).

        With predictive variance ``s2 * (1 + h)`` (``h`` fixed by the encoder and the ridge
        penalty) the Gaussian NLL is minimized in closed form by the mean of these.
        """
        phi_s = self._embed(member, support)
        phi_q = self._embed(member, query)
        post = member.head.fit(phi_s, self._targets(support))
        err2 = (post.mean(phi_q) - self._targets(query)) ** 2
        return err2 / (1.0 + post.leverage(phi_q) + 1.0 / post.n)

    @staticmethod
    def _set_noise(member: Member, scaled: Tensor) -> None:
        member.head.log_noise_var.data.fill_(math.log(float(scaled.mean().clamp_min(1e-6))))

    @torch.no_grad()
    def _calibrate_noise(self, member: Member, tr: np.ndarray, val: np.ndarray) -> None:
        """Set the noise variance to its maximum-likelihood value on held-out domains."""
        self._set_noise(member, self._scaled_sq_errors(member, tr, val))

    @torch.no_grad()
    def _calibrate_noise_episodes(self, member: Member, tr: np.ndarray,
                                  sampler: EpisodeSampler, n_episodes: int = 32) -> None:
        """Set the noise variance to its maximum-likelihood value on training episodes.

        Used when no validation domains are held out and the loss (MSE) does not train the
        noise: the query errors of fresh extrapolative episodes (query domains unseen by
        the support) take the place of held-out domains. Episode supports are smaller than
        the full training set used at inference, so the estimate errs on the wide side.
        """
        episodes = [sampler.sample() for _ in range(n_episodes)]
        self._set_noise(member, torch.cat([
            self._scaled_sq_errors(member, tr[ep.support], tr[ep.query]) for ep in episodes]))
