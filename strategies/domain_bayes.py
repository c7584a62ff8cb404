"""``domain-bayes``: the posterior decides which domains get measurements, and how many.

1. Shortlist: the best ``per_domain`` candidates of every domain by the screen's cheap
   acquisition, plus the global top ``shortlist``.
2. Draw ``samples`` functions from the surrogate's *joint* posterior over the shortlist
   (``model.posterior``), so domains' maxima are correlated as the model says.
3. Win probability of domain ``d``: the fraction of draws in which ``d``'s best
   shortlisted candidate beats the best measured value (``event="beats"``, each domain on
   its own), or in which ``d`` holds the best candidate of all and that beats the
   incumbent (``event="best"``: winner takes all, so one domain tends to take the batch).
   Measured and unmeasured domains are treated alike.
4. Allocate the batch across domains in proportion to those probabilities (largest
   remainder, no domain beyond its shortlisted candidates); a domain whose share of the
   total win probability is below ``min_share`` gets none. If no draw beats the
   incumbent, the probability of holding the best is used instead (the reason says so).
5. Fill the allocations by sequential greedy on Monte Carlo batch expected improvement
   over the same draws: each pick (among domains with seats left) adds the most
   ``E[max(batch + pick) - max(batch)]`` over the incumbent, so a candidate that rises
   and falls with an earlier pick adds little and the batch spreads out. This is qEI with
   the observations of earlier picks fantasized as their joint draws (common random
   numbers), the discrete sequential greedy BoTorch's ``optimize_acqf_discrete`` runs.

When to use: the E2T setting (winners expected in domains the campaign has not measured)
when a fixed new-domain share (``new-domain``) is too blunt: a domain whose posterior
makes a win likely gets picks in proportion, a hopeless one none, however few
measurements it has. Without ``model`` and ``features`` the draws are independent normals
from the screen's mean and std (the reason says so). Over a shortlist longer than
``4 * rank`` no ``n x n`` covariance is formed: the top ``rank`` candidates are drawn
exactly and the others from their conditionals given them
(:func:`~e2t_discovery.strategies._sampling.landmark_draws`).

Objective ``range`` is refused (by :meth:`Strategy.select`, one line): a target window
needs its bounds, which a strategy is not given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from e2t_discovery.domains import NO_DOMAIN
from e2t_discovery.exceptions import StrategyError

from ._sampling import landmark_draws, pool_posterior, sample_joint
from .base import (
    Choice,
    Context,
    Strategy,
    check_positive,
    measured_counts,
    shortlist,
)

__all__ = ["DomainBayes", "EVENTS", "allocate", "win_probabilities"]

#: What counts as a domain's win (parameter ``event``).
EVENTS = ("beats", "best")


def win_probabilities(draws: np.ndarray, codes: np.ndarray, n_domains: int,
                      incumbent: float | None, event: str = "beats") -> tuple[np.ndarray, bool]:
    """Win probability per domain from joint draws.

    Args:
        draws: ``S x k`` draws in ``sign`` space (larger is better).
        codes: ``k`` domain codes in ``0 .. n_domains - 1``.
        n_domains: Number of domains.
        incumbent: Best measured value in ``sign`` space, or None.
        event: ``beats``: the domain's best candidate beats the incumbent (each domain
            on its own); ``best``: the domain holds the best of all candidates and that
            beats the incumbent (winner takes all; the probabilities sum to at most 1).

    Returns:
        ``(p, beats)``: ``n_domains`` probabilities, and whether any draw beat the
        incumbent. If none did (or nothing is measured), ``p`` is the probability of
        holding the best draw.
    """
    best = draws.argmax(1)
    holder = np.bincount(codes[best], minlength=n_domains) / len(draws)
    if incumbent is None:
        return holder, False
    if event == "beats":
        order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[order], np.arange(n_domains))
        present = np.isin(np.arange(n_domains), codes)
        dom_max = np.maximum.reduceat(draws[:, order], np.minimum(starts, len(codes) - 1),
                                      axis=1)
        p = np.where(present, (dom_max > incumbent).mean(0), 0.0)
    else:
        wins = draws[np.arange(len(draws)), best] > incumbent
        p = np.bincount(codes[best][wins], minlength=n_domains) / len(draws)
    return (p, True) if p.sum() > 0 else (holder, False)


def allocate(p: np.ndarray, q: int, capacity: np.ndarray, min_share: float) -> np.ndarray:
    """Split ``q`` seats across domains in proportion to ``p`` (largest remainder).

    Domains whose share ``p / sum(p)`` is below ``min_share`` get none; no domain gets
    more than its ``capacity``; seats a full domain cannot take go to the others in
    proportion. Fewer than ``q`` seats are given only when the eligible domains cannot
    hold them.
    """
    share = p / p.sum() if p.sum() > 0 else np.zeros(len(p))
    weight = np.where(share >= min_share, share, 0.0)
    seats = np.zeros(len(p), dtype=int)
    open_ = (weight > 0) & (capacity > 0)
    while (left := q - int(seats.sum())) > 0 and open_.any():
        w = weight * open_
        quota = left * w / w.sum()
        want = np.floor(quota).astype(int)
        # remainders, largest first (ties: the larger share, then the earlier domain)
        order = np.lexsort((np.arange(len(p)), -w, -(quota - want)))
        want[order[:left - int(want.sum())]] += 1
        seats += np.minimum(want, capacity - seats)
        open_ &= seats < capacity  # a full domain's surplus goes round again
    return seats


class DomainBayes(Strategy):
    """Allocate the batch across domains by posterior win probability; fill by batch EI.

    Args:
        per_domain: Shortlisted candidates per domain (best by the screen's acquisition).
        shortlist: Global top candidates added to the shortlist.
        samples: Joint posterior draws.
        min_share: A domain with a smaller share of the total win probability gets no pick.
        rank: Rank of the covariance factor used when the shortlist exceeds ``4 * rank``.
        event: What a domain's win is: ``beats`` (its best beats the incumbent) or
            ``best`` (it holds the overall best, and that beats the incumbent).
    """

    name = "domain-bayes"
    uses_model = True

    def __init__(self, per_domain: int = 32, shortlist: int = 256, samples: int = 512,
                 min_share: float = 0.05, rank: int = 256, event: str = "beats") -> None:
        check_positive(self.name, per_domain=per_domain, shortlist=shortlist,
                       samples=samples, rank=rank)
        if not isinstance(min_share, int | float) or not 0.0 <= min_share < 1.0:
            raise StrategyError(f"strategy 'domain-bayes': min_share={min_share!r} must lie "
                                f"in [0, 1)")
        if event not in EVENTS:
            raise StrategyError(f"strategy 'domain-bayes': event={event!r} must be one of "
                                f"{', '.join(EVENTS)}")
        self.per_domain = int(per_domain)
        self.shortlist = int(shortlist)
        self.samples = int(samples)
        self.min_share = float(min_share)
        self.rank = int(rank)
        self.event = event

    def acquisition_column(self, objective: str) -> tuple[str, float] | None:
        """``batch_ei_gain``: what the pick adds to the batch's expected improvement, in the
        target's unit (either direction)."""
        return ("batch_ei_gain", 1.0)

    def choose(self, candidates: pd.DataFrame, q: int, ctx: Context) -> list[Choice]:
        """Allocate by win probability, then sequential greedy batch EI per allocation."""
        labels = self._labels(candidates)
        pool = self._pool(candidates, labels, q, ctx.sign)
        draws, how = self._draws(candidates, pool, ctx)
        names, codes = np.unique(labels[pool], return_inverse=True)
        incumbent = ctx.best_measured()
        p, beats = win_probabilities(draws, codes, len(names), incumbent, self.event)
        seats = allocate(p, q, np.bincount(codes, minlength=len(names)), self.min_share)
        picks = self._greedy(draws, codes, seats, incumbent, q)
        counts = measured_counts(ctx.measured)
        event = ("holds the best (nothing measured)" if incumbent is None
                 else "holds the best (no draw beats the incumbent)" if not beats
                 else "best beats the incumbent" if self.event == "beats"
                 else "holds the best, beating the incumbent")
        out = []
        for j, gain, filler in picks:
            d = int(codes[j])
            where = (f"fill-in from domain {names[d]!r}" if filler
                     else f"domain {names[d]!r}")
            out.append(Choice(pool[j], gain,
                              f"{where} ({counts.get(str(names[d]), 0)} measured): "
                              f"P(domain {event})={p[d]:.2f}, {seats[d]} of {q} picks; "
                              f"batch EI over {len(draws)} {how}"))
        return out

    # ------------------------------------------------------------------ steps
    @staticmethod
    def _labels(candidates: pd.DataFrame) -> np.ndarray:
        """Domain label per candidate (``NO_DOMAIN`` when missing or no column)."""
        if "domain" not in candidates.columns:
            return np.full(len(candidates), NO_DOMAIN, dtype=object)
        return candidates["domain"].astype("string").fillna(NO_DOMAIN).astype(str).to_numpy()

    def _pool(self, candidates: pd.DataFrame, labels: np.ndarray, q: int,
              sign: float) -> list[int]:
        """Global top plus the best ``per_domain`` of every domain, in shortlist order."""
        order = shortlist(candidates, len(candidates), sign)
        taken: dict[str, int] = {}
        chosen = set(order[:max(self.shortlist, q)])
        for i in order:
            lab = labels[i]
            if taken.get(lab, 0) < self.per_domain:
                taken[lab] = taken.get(lab, 0) + 1
                chosen.add(i)
        return [i for i in order if i in chosen]

    def _draws(self, candidates: pd.DataFrame, pool: list[int],
               ctx: Context) -> tuple[np.ndarray, str]:
        """``samples x len(pool)`` posterior draws in ``sign`` space, and how they were made.

        ``pool`` is in shortlist order, so on long shortlists the landmarks (the first
        ``rank``, drawn exactly) are the most promising candidates.
        """
        if ctx.model is None or ctx.features is None:
            mean = candidates["mean"].to_numpy(float)[pool]
            std = candidates["std"].to_numpy(float)[pool]
            draws = mean + ctx.rng.standard_normal((self.samples, len(pool))) * std
            return ctx.sign * draws, "independent draws (no model given)"
        how = "joint posterior draws"
        if len(pool) > 4 * self.rank:
            how += f" ({self.rank} landmarks exact, the rest conditional on them)"
            draws = landmark_draws(ctx.model.posterior, ctx.features[pool], self.samples,
                                   self.rank, ctx.rng)
        else:
            mean, cov, _ = pool_posterior(candidates, pool, ctx)
            draws = sample_joint(mean, cov, self.samples, ctx.rng)
        return ctx.sign * draws, how

    @staticmethod
    def _greedy(draws: np.ndarray, codes: np.ndarray, seats: np.ndarray,
                incumbent: float | None, q: int) -> list[tuple[int, float, bool]]:
        """Sequential greedy batch EI: ``(pool position, gain, fill-in?)`` per pick.

        Each pick maximizes ``E[max(level, f_i) - level]`` over the draws, where ``level``
        is, per draw, the best of the incumbent and the picks so far, among candidates of
        domains with seats left (ties: the larger mean draw, then the earlier position).
        Seats the allocation left unassigned are filled from any domain.
        """
        level = (np.full(len(draws), incumbent) if incumbent is not None
                 else draws.min(1))
        mean_draw = draws.mean(0)
        left = seats.copy()
        free = np.ones(draws.shape[1], bool)
        picks: list[tuple[int, float, bool]] = []
        while len(picks) < q and free.any():
            filler = not left.any()
            allowed = free & (True if filler else left[codes] > 0)
            gain = np.maximum(draws - level[:, None], 0.0).mean(0)
            score = np.where(allowed, gain, -np.inf)
            j = int(np.lexsort((np.arange(len(score)), -mean_draw, -score))[0])
            picks.append((j, float(gain[j]), filler))
            free[j] = False
            if not filler:
                left[codes[j]] -= 1
            level = np.maximum(level, draws[:, j])
        return picks
