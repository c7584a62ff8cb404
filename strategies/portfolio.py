"""``portfolio``: split every batch between exploiting and exploring, by what each earned.

Two arms propose candidates:

- **exploit**: analytic LogEI over the incumbent on the screen's marginals (as
  ``logei``), best first;
- **explore**: the most uncertain candidates, taken greedily by *conditional* posterior
  variance over the joint posterior of the ``explore_shortlist`` most uncertain
  candidates: each pick is the candidate whose variance is largest given that the
  earlier picks were measured (pivoted Cholesky of the shortlist's covariance), so the
  picks spread over different unknown regions instead of crowding into one. The mean
  plays no part.

Which arm gets a seat is Thompson sampling over the two arms (a two-armed bandit with
rewards in [0, 1]; Beta posteriors updated by fractional rewards, Agrawal & Goyal 2012):
the reward of a measured pick is the fraction of the campaign's measured values it beats
(in the objective's direction). Arm ``a``'s posterior is
``Beta(prior + sum(r), prior + sum(1 - r))`` over its earlier picks; each seat draws one
value per arm and goes to the larger. Before any arm has a measured pick the seats split
evenly in expectation; the split then follows the campaign's own results. Picks are
recognized by their ``reason`` (every reason starts with the arm's name), which the loop
passes back in ``measured`` (column ``reason``, with ``strategy``); rows proposed by other
strategies do not count.

Why: out of domain the predicted mean may have no skill where the winners lie. On RadonPy
PI1070 thermal conductivity, with initial data from five classes, the 11 top-1% polymers
rank 163-802 in the pool by a GP's predicted mean but 1-632 by its posterior std (the most
unusual polymers conduct best); on heat capacity the same GP's mean ranks the targets
first and the std does not. Which case a campaign is in is unknown at its start and
revealed by its own measurements, so the batch is a bandit over the two.

Without ``model`` and ``features`` the explore arm ranks by the screen's std
(independent), and LogEI uses the screen's marginals. Without measured values (no
incumbent) every seat explores. Objective ``range`` is refused by :meth:`Strategy.select`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ._sampling import pool_posterior
from .base import Choice, Context, Strategy, check_positive, top
from .logei import LogEI

__all__ = ["ARMS", "Portfolio", "arm_rewards", "greedy_variance"]

#: The arms, in the order their seats are reported.
ARMS = ("exploit", "explore")


def greedy_variance(cov: np.ndarray, q: int) -> tuple[list[int], list[float]]:
    """Greedy maximum conditional variance (pivoted Cholesky) over ``cov``.

    Args:
        cov: ``k x k`` posterior covariance.
        q: Picks (``q <= k``).

    Returns:
        ``(picks, variances)``: positions in pick order and each pick's variance given the
        picks before it.
    """
    k = len(cov)
    d = np.clip(np.diag(cov).astype(np.float64), 0.0, None)
    factor = np.zeros((k, q))
    picks: list[int] = []
    variances: list[float] = []
    for j in range(min(q, k)):
        free = np.where(np.isin(np.arange(k), picks), -np.inf, d)
        i = int(np.argmax(free))
        picks.append(i)
        variances.append(float(d[i]))
        if d[i] > 1e-300:
            col = (cov[:, i] - factor[:, :j] @ factor[i, :j]) / np.sqrt(d[i])
            factor[:, j] = col
            d = np.clip(d - col**2, 0.0, None)
    return picks, variances


def arm_rewards(measured: pd.DataFrame, sign: float, name: str) -> dict[str, np.ndarray]:
    """Rewards of each arm's measured picks: the fraction of measured values each beats.

    Args:
        measured: ``value`` and, for attributed rows, ``reason`` (and ``strategy``; rows
            whose ``strategy`` is another strategy's do not count).
        sign: +1 to maximize, -1 to minimize.
        name: This strategy's registry name.

    Returns:
        Arm name -> rewards in [0, 1] (empty arrays for arms without measured picks).
    """
    out = {arm: np.zeros(0) for arm in ARMS}
    if "value" not in measured.columns or "reason" not in measured.columns:
        return out
    values = sign * pd.to_numeric(measured["value"], errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(values)
    if not ok.any():
        return out
    reference = np.sort(values[ok])
    beats = np.searchsorted(reference, values, side="left") / len(reference)
    reason = measured["reason"].astype("string").fillna("")
    mine = np.ones(len(measured), dtype=bool)
    if "strategy" in measured.columns:
        mine = measured["strategy"].astype("string").fillna(name).eq(name).to_numpy(bool)
    for arm in ARMS:
        rows = ok & mine & reason.str.startswith(f"{arm} arm").to_numpy(bool)
        out[arm] = beats[rows]
    return out


class Portfolio(Strategy):
    """Exploit (LogEI) and explore (conditional variance) arms; seats by Thompson sampling.

    Args:
        explore_shortlist: The most uncertain candidates the explore arm chooses from.
        prior: Pseudo-counts of each arm's Beta prior (both parameters; > 0).
    """

    name = "portfolio"
    uses_model = True

    def __init__(self, explore_shortlist: int = 500, prior: float = 1.0) -> None:
        check_positive(self.name, explore_shortlist=explore_shortlist, prior=prior)
        self.explore_shortlist = int(explore_shortlist)
        self.prior = float(prior)

    def uncertain_candidates(self) -> int:
        """The explore arm's shortlist: the loop adds that many most uncertain candidates."""
        return self.explore_shortlist

    def acquisition_column(self, objective: str) -> tuple[str, float] | None:
        """``arm_score``: LogEI for exploit picks, conditional std for explore picks."""
        return ("arm_score", 1.0)

    def seats(self, rewards: dict[str, np.ndarray], q: int,
              rng: np.random.Generator) -> list[str]:
        """Draw the arm of each of ``q`` seats from the arms' Beta posteriors."""
        a = np.array([self.prior + rewards[arm].sum() for arm in ARMS])
        b = np.array([self.prior + (1.0 - rewards[arm]).sum() for arm in ARMS])
        theta = rng.beta(a[None, :], b[None, :], size=(q, len(ARMS)))
        return [ARMS[int(k)] for k in theta.argmax(1)]

    def choose(self, candidates: pd.DataFrame, q: int, ctx: Context) -> list[Choice]:
        """Draw seats, fill explore seats by conditional variance, the rest by LogEI."""
        rewards = arm_rewards(ctx.measured, ctx.sign, self.name)
        has_incumbent = ctx.best_measured() is not None
        arms = self.seats(rewards, q, ctx.rng) if has_incumbent else ["explore"] * q
        tally = " ".join(f"{arm} {len(rewards[arm])} picks, mean reward "
                         f"{rewards[arm].mean():.2f};" if len(rewards[arm])
                         else f"{arm} no measured picks yet;" for arm in ARMS)
        explore = self._explore(candidates, arms.count("explore"), ctx)
        taken = {i for i, _ in explore}
        exploit: list[tuple[int, float]] = []
        if arms.count("exploit"):
            # analytic EI needs only the marginals: the screen's mean and std
            marginal = replace(ctx, model=None, features=None)
            ranked = LogEI().choose(candidates, min(len(candidates), q + len(taken)), marginal)
            exploit = [(c.position, c.acquisition) for c in ranked
                       if c.position not in taken][:arms.count("exploit")]
        queues = {"explore": iter(explore), "exploit": iter(exploit)}
        picks: list[Choice] = []
        for k, arm in enumerate(arms, start=1):
            position, score = next(queues[arm])
            what = ("conditional std given earlier explore picks" if arm == "explore"
                    else "LogEI over the incumbent")
            picks.append(Choice(position, score,
                                f"{arm} arm, seat {k} of {q} ({what} {score:.4g}); "
                                f"{tally} {arms.count(arm)} seats"))
        return picks

    def _explore(self, candidates: pd.DataFrame, n: int,
                 ctx: Context) -> list[tuple[int, float]]:
        """``n`` picks by greedy conditional variance among the most uncertain."""
        if n == 0:
            return []
        std = candidates["std"].to_numpy(np.float64)
        pool = top(std, max(self.explore_shortlist, n))
        _, cov, _ = pool_posterior(candidates, pool, ctx)
        order, variances = greedy_variance(cov, n)
        return [(pool[j], float(np.sqrt(v))) for j, v in zip(order, variances, strict=True)]
