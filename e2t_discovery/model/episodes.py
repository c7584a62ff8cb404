"""Episode sampling: draw (support, query) index sets from labelled data.

An *episode* is a support set S and a query set Q of row indices. The E2T encoder is
trained so that a head fitted on S predicts Q well; how Q relates to S decides what the
encoder learns:

- ``gkfold``: Q comes from domains that S does not contain (extrapolation, the paper's
  GKFold policy);
- ``softgkfold``: S and Q are drawn independently from all domains (they may overlap);
- ``same``: S and Q come from the same domains (interpolation), with disjoint rows.

Domains come from a label array, or, when none is given, from k-means clusters on the
inputs (:func:`cluster_domains`). Every draw is reproducible from a numpy ``Generator``.
``cluster_domains`` and ``encode_domains`` live in :mod:`e2t_discovery.domains` with the
other domain rules and are importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from e2t_discovery.domains import cluster_domains, encode_domains
from e2t_discovery.exceptions import ModelError

__all__ = [
    "Episode",
    "EpisodeSampler",
    "EpisodePolicy",
    "EPISODE_POLICIES",
    "cluster_domains",
    "encode_domains",
]

EpisodePolicy = Literal["gkfold", "softgkfold", "same"]
EPISODE_POLICIES: tuple[str, ...] = ("gkfold", "softgkfold", "same")


@dataclass(frozen=True)
class Episode:
    """One support/query draw.

    Attributes:
        support: ``n_s`` int64 row indices of the support set.
        query: ``n_q`` int64 row indices of the query set (disjoint rows from ``support``).
    """

    support: np.ndarray
    query: np.ndarray


class EpisodeSampler:
    """Draw episodes from domain codes according to a policy.

    Args:
        domains: ``n`` integer domain codes (see :func:`encode_domains`).
        policy: ``gkfold``, ``softgkfold`` or ``same``.
        n_support: Support-set size (capped by the rows available).
        n_query: Query-set size (capped by the rows available).
        n_ways: Number of query domains per episode (``gkfold``/``same``).
        support_ways: Number of support domains for ``gkfold``; None uses every domain not
            in the query.
        seed: Seed of the numpy ``Generator``; equal seeds give equal episode streams.

    Raises:
        ModelError: if the policy is unknown, sizes are not positive, or ``gkfold`` is
            asked for with fewer than two domains.
    """

    def __init__(
        self,
        domains: np.ndarray,
        policy: str = "gkfold",
        *,
        n_support: int = 256,
        n_query: int = 64,
        n_ways: int = 1,
        support_ways: int | None = None,
        seed: int = 0,
    ) -> None:
        if policy not in EPISODE_POLICIES:
            raise ModelError(
                f"unknown episode policy {policy!r}; use one of {', '.join(EPISODE_POLICIES)}"
            )
        if n_support < 1 or n_query < 1 or n_ways < 1:
            raise ModelError(
                f"n_support={n_support}, n_query={n_query}, n_ways={n_ways} must all be >= 1"
            )
        self.domains = np.asarray(domains, dtype=np.int64)
        self.unique = np.unique(self.domains)
        if policy == "gkfold" and self.unique.size < 2:
            raise ModelError(
                "gkfold needs at least 2 domains, got 1; pass more groups or use policy='same'"
            )
        self.policy = policy
        self.n_support = n_support
        self.n_query = n_query
        self.n_ways = min(n_ways, max(1, self.unique.size - 1) if policy == "gkfold"
                          else self.unique.size)
        self.support_ways = support_ways
        self.rng = np.random.default_rng(seed)
        self._rows = {int(d): np.flatnonzero(self.domains == d) for d in self.unique}

    def _rows_of(self, doms: np.ndarray) -> np.ndarray:
        return np.concatenate([self._rows[int(d)] for d in doms])

    def _take(self, rows: np.ndarray, k: int) -> np.ndarray:
        return self.rng.choice(rows, size=min(k, rows.size), replace=False)

    def sample(self) -> Episode:
        """Draw one episode."""
        if self.policy == "softgkfold":
            n = self.domains.size
            query = self._take(np.arange(n), self.n_query)
            support = self._take(np.setdiff1d(np.arange(n), query), self.n_support)
            return Episode(support=support.astype(np.int64), query=query.astype(np.int64))
        q_doms = self.rng.choice(self.unique, size=self.n_ways, replace=False)
        if self.policy == "same":
            rows = self._rows_of(q_doms)
            perm = self.rng.permutation(rows)
            n_q = min(self.n_query, max(1, perm.size // 2))
            query, rest = perm[:n_q], perm[n_q:]
            support = rest[: self.n_support] if rest.size else query[:1]
            return Episode(support=support.astype(np.int64), query=query.astype(np.int64))
        s_doms = np.setdiff1d(self.unique, q_doms)
        if self.support_ways is not None and self.support_ways < s_doms.size:
            s_doms = self.rng.choice(s_doms, size=self.support_ways, replace=False)
        query = self._take(self._rows_of(q_doms), self.n_query)
        support = self._take(self._rows_of(s_doms), self.n_support)
        return Episode(support=support.astype(np.int64), query=query.astype(np.int64))

    def __iter__(self):  # noqa: D105
        while True:
            yield self.sample()
