"""Episode policies: GKFold never leaks a query domain into the support."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2t_discovery.exceptions import ModelError
from e2t_discovery.model.episodes import EpisodeSampler, cluster_domains, encode_domains


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 6), min_size=4, max_size=80).filter(
        lambda xs: len(set(xs)) >= 2),
    n_support=st.integers(1, 50),
    n_query=st.integers(1, 20),
    n_ways=st.integers(1, 4),
    support_ways=st.one_of(st.none(), st.integers(1, 4)),
    seed=st.integers(0, 2**31),
)
def test_gkfold_support_and_query_domains_are_disjoint(labels, n_support, n_query, n_ways,
                                                       support_ways, seed) -> None:
    domains = encode_domains(np.array(labels), len(labels))
    sampler = EpisodeSampler(domains, "gkfold", n_support=n_support, n_query=n_query,
                             n_ways=n_ways, support_ways=support_ways, seed=seed)
    for _ in range(5):
        ep = sampler.sample()
        assert ep.support.size >= 1 and ep.query.size >= 1
        assert ep.support.size <= n_support and ep.query.size <= n_query
        assert not set(domains[ep.support]) & set(domains[ep.query])
        assert len(set(ep.support)) == ep.support.size


def test_same_and_soft_policies_and_reproducibility() -> None:
    domains = np.repeat(np.arange(5), 20)
    a = EpisodeSampler(domains, "same", n_support=10, n_query=5, seed=1)
    b = EpisodeSampler(domains, "same", n_support=10, n_query=5, seed=1)
    for _ in range(10):
        ea, eb = a.sample(), b.sample()
        np.testing.assert_array_equal(ea.support, eb.support)
        assert set(domains[ea.support]) == set(domains[ea.query])
        assert not set(ea.support) & set(ea.query)
    soft = EpisodeSampler(domains, "softgkfold", n_support=30, n_query=10, seed=2)
    seen = {len(set(domains[e.query])) for e in (soft.sample() for _ in range(10))}
    assert max(seen) > 1  # independent draws span several domains
    with pytest.raises(ModelError, match="unknown episode policy 'loo'"):
        EpisodeSampler(domains, "loo")
    with pytest.raises(ModelError, match="gkfold needs at least 2 domains"):
        EpisodeSampler(np.zeros(10, dtype=int), "gkfold")


def test_cluster_domains_separates_clusters() -> None:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 0.1, (30, 3)), rng.normal(5, 0.1, (30, 3))])
    codes = cluster_domains(X, n_clusters=2, seed=0)
    assert len(set(codes[:30])) == 1 and len(set(codes[30:])) == 1 and codes[0] != codes[-1]
    with pytest.raises(ModelError, match="groups has shape"):
        encode_domains(["a", "b"], 3)
