"""Training helpers: whole-domain validation splits and few-shot adaptation episodes."""

from __future__ import annotations

import numpy as np
import pytest

from e2t_discovery.model.config import SurrogateConfig
from e2t_discovery.model.training import adapt_episodes, split_validation, training_sampler


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_validation_holds_out_whole_domains_and_keeps_two(seed: int) -> None:
    domains = np.repeat(np.arange(5), 7)
    tr, val = split_validation(domains, 0.9, seed)
    assert np.array_equal(np.sort(np.concatenate([tr, val])), np.arange(35))
    assert not set(domains[tr]) & set(domains[val])
    assert len(set(domains[tr])) == 2 and len(set(domains[val])) == 3
    again = split_validation(domains, 0.9, seed)
    assert all(np.array_equal(a, b) for a, b in zip((tr, val), again, strict=True))


def test_no_validation_without_a_fraction_or_with_two_domains() -> None:
    for domains, fraction in ((np.repeat(np.arange(5), 4), 0.0), (np.repeat([0, 1], 6), 0.5)):
        tr, val = split_validation(domains, fraction, 0)
        assert np.array_equal(tr, np.arange(domains.size)) and val.size == 0


def test_training_sampler_falls_back_to_same_domain_episodes() -> None:
    config = SurrogateConfig(n_support=4, n_query=2)
    one = training_sampler(np.zeros(10, dtype=np.int64), np.arange(10), config, 0)
    assert one.policy == "same"
    many = training_sampler(np.repeat(np.arange(3), 4), np.arange(12), config, 0)
    assert many.policy == config.policy


def test_adapt_episodes_query_new_rows_then_source_domains() -> None:
    config = SurrogateConfig(n_support=6, n_query=3)
    domains = np.concatenate([np.repeat([0, 1, 2], 8), [3, 3, 3, 3]])
    new_rows = np.arange(24, 28)
    episodes = list(adapt_episodes(domains, new_rows, config, 4, seed=0))
    assert len(episodes) == 4
    for step, (support, query) in enumerate(episodes):
        assert not set(support) & set(new_rows)  # the support is always source data
        if step % 2 == 0:
            assert set(query) <= set(new_rows) and query.size == 3
        else:
            assert not set(query) & set(new_rows)
            assert not set(domains[support]) & set(domains[query])  # extrapolative
    again = list(adapt_episodes(domains, new_rows, config, 4, seed=0))
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
               for a, b in zip(episodes, again, strict=True))
