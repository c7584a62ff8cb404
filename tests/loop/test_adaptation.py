"""Tests for the adaptation policy (condition always, fine-tune on a domain's first few)."""

from __future__ import annotations

import pytest

from e2t_discovery.exceptions import ConfigError
from e2t_discovery.loop.adaptation import AdaptPolicy, plan_update


def test_fine_tune_when_a_domain_reaches_threshold() -> None:
    policy = AdaptPolicy(threshold=3)
    plan = plan_update(["a"] * 5 + ["b"], ["b", "b", "c"], policy)
    assert plan.fine_tune
    assert plan.trigger_domains == ("b",)


def test_condition_only_below_or_beyond_threshold() -> None:
    policy = AdaptPolicy(threshold=3)
    assert not plan_update(["a"] * 5, ["a", "c"], policy).fine_tune
    assert not plan_update(["b"] * 3, ["b"], policy).fine_tune  # already past it


def test_threshold_zero_disables_fine_tuning() -> None:
    assert not plan_update([], ["a"] * 10, AdaptPolicy(threshold=0)).fine_tune


def test_policy_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="threshold -1"):
        AdaptPolicy(threshold=-1)
    with pytest.raises(ConfigError, match="lr 0"):
        AdaptPolicy(lr=0)
