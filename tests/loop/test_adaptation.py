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


def test_the_campaign_file_sets_threshold_and_steps(tmp_path) -> None:  # noqa: ANN001
    from campaign_helpers import campaign_toml

    from e2t_discovery.config.schema import load_config

    path = tmp_path / "c.toml"
    path.write_text(campaign_toml("pi1070-tc", {"model.adaptation_threshold": 4,
                                                "model.adaptation_steps": 7}))
    assert AdaptPolicy.of(load_config(path).model) == AdaptPolicy(threshold=4, steps=7)
    bad = campaign_toml("pi1070-tc", {"model.adaptation_steps": 1}).replace(
        "adaptation_steps = 1", "adaptation_steps = 0")
    path.write_text(bad)
    with pytest.raises(ConfigError, match="model.adaptation_steps = 0 is invalid"):
        load_config(path)
    path.write_text(campaign_toml("pi1070-tc", {"model.adaptation_steps": None}))
    assert AdaptPolicy.of(load_config(path).model).steps == 100
