"""``new-domain``: reserve part of every batch for domains with no or few measurements.

A share of the batch (``share``, rounded, at least one pick when ``share > 0``) goes to
candidates of *new* domains — domains with at most ``max_measured`` measurements — taking
the best UCB candidate of each new domain in turn (domains ordered by their best UCB),
then the second best of each, and so on. The rest of the batch is the best UCB overall.
Candidates without a domain label never count as new.

When to use: when the winners are expected in domains the campaign has not measured
(the E2T setting), to guarantee every batch probes them while the rest exploits. If there
are fewer new-domain candidates than the quota, the rest of the batch is filled by UCB.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from e2t_discovery.exceptions import StrategyError

from .base import (
    Choice,
    Context,
    Strategy,
    check_non_negative,
    measured_counts,
    require_columns,
    top,
    ucb,
)

__all__ = ["NewDomain"]


class NewDomain(Strategy):
    """UCB with a quota for unmeasured domains.

    Args:
        share: Fraction of the batch reserved for new domains, in [0, 1].
        max_measured: A domain with at most this many measurements counts as new.
        beta: UCB weight of the standard deviation (>= 0).
    """

    name = "new-domain"

    def __init__(self, share: float = 0.5, max_measured: int = 0, beta: float = 2.0) -> None:
        check_non_negative(self.name, beta=beta, max_measured=max_measured)
        if not isinstance(share, int | float) or not 0.0 <= share <= 1.0:
            raise StrategyError(f"strategy 'new-domain': share={share!r} must lie in [0, 1]")
        self.share = float(share)
        self.max_measured = int(max_measured)
        self.beta = float(beta)

    def quota(self, q: int) -> int:
        """Number of picks reserved for new domains in a batch of ``q``."""
        return 0 if self.share == 0 else min(q, max(1, math.floor(self.share * q + 0.5)))

    def acquisition_column(self, objective: str) -> tuple[str, float] | None:
        """``ucb`` to maximize, ``lcb`` (mean - beta std) to minimize, as for ``ucb``."""
        return ("ucb", 1.0) if objective == "maximize" else ("lcb", -1.0)

    def choose(self, candidates: pd.DataFrame, q: int, ctx: Context) -> list[Choice]:
        """Fill the new-domain quota round-robin, then the rest by UCB."""
        require_columns(candidates, ["domain"], self.name)
        values = ucb(candidates, ctx.sign, self.beta)
        counts = measured_counts(ctx.measured)
        domains = candidates["domain"].astype("string")
        is_new = domains.notna() & domains.map(
            lambda d: counts.get(str(d), 0) <= self.max_measured).fillna(False).astype(bool)
        picks = self._round_robin(domains, is_new.to_numpy(bool), values, self.quota(q),
                                  counts)
        chosen = {c.position for c in picks}
        for i in top(values, q - len(picks), exclude=chosen):
            picks.append(Choice(i, float(values[i]), f"top UCB (beta={self.beta:g})"))
        return picks

    def _round_robin(self, domains: pd.Series, is_new: np.ndarray, values: np.ndarray,
                     quota: int, counts: dict[str, int]) -> list[Choice]:
        """Best of each new domain in turn (domains by their best value) up to ``quota``."""
        queues: dict[str, list[int]] = {}
        for i in top(values, len(values)):
            if is_new[i]:
                queues.setdefault(str(domains.iloc[i]), []).append(i)
        picks: list[Choice] = []
        level = 0
        while len(picks) < quota and any(len(v) > level for v in queues.values()):
            for dom, queue in queues.items():  # dict order = order of each domain's best
                if len(picks) < quota and len(queue) > level:
                    i = queue[level]
                    picks.append(Choice(i, float(values[i]),
                                        f"new domain {dom!r} ({counts.get(dom, 0)} measured):"
                                        f" #{level + 1} by UCB in domain"))
            level += 1
        return picks
