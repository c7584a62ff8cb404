"""The Objective value object: validation, scores, UCB, in-range probability."""

from __future__ import annotations

import numpy as np
import pytest

from e2t_discovery.exceptions import ConfigError
from e2t_discovery.objective import Objective


def test_directions_and_bounds_are_checked() -> None:
    with pytest.raises(ConfigError, match="not one of maximize, minimize, range"):
        Objective("maximise")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs low < high"):
        Objective("range", 2.0, 1.0)
    with pytest.raises(ConfigError, match="apply only to direction 'range'"):
        Objective("maximize", low=1.0)


def test_score_is_larger_is_better() -> None:
    values = np.array([1.0, 3.0, 5.0])
    assert Objective("maximize").score(values).tolist() == [1.0, 3.0, 5.0]
    assert Objective("minimize").score(values).tolist() == [-1.0, -3.0, -5.0]
    assert Objective("range", 2.0, 4.0).score(values).tolist() == [-1.0, 0.0, -1.0]
    assert Objective("minimize").score(2.0) == -2.0


def test_sign_is_refused_for_a_range() -> None:
    assert Objective("maximize").sign == 1.0
    assert Objective("minimize").sign == -1.0
    with pytest.raises(ConfigError, match="strategies rank by maximize/minimize"):
        _ = Objective("range", 0.0, 1.0).sign


def test_ucb_is_optimistic_in_every_direction() -> None:
    mean, std = np.array([1.0, 1.0]), np.array([0.0, 1.0])
    assert Objective("maximize").ucb(mean, std, 2.0).tolist() == [1.0, 3.0]
    assert Objective("minimize").ucb(mean, std, 2.0).tolist() == [-1.0, 1.0]
    # range [2, 3]: the wider prediction can reach it, the sharp one is 1 away
    assert Objective("range", 2.0, 3.0).ucb(mean, std, 2.0).tolist() == [-1.0, 0.0]


def test_probability_in_range_matches_the_normal_cdf() -> None:
    from scipy.stats import norm

    got = Objective("range", -1.0, 1.0).probability_in_range([0.0], [1.0])
    assert got[0] == pytest.approx(norm.cdf(1.0) - norm.cdf(-1.0))
    with pytest.raises(ConfigError, match="has no range"):
        Objective("maximize").probability_in_range([0.0], [1.0])


def test_best_so_far_follows_the_direction() -> None:
    best, arg = Objective("minimize").best_so_far([3.0, 1.0, 2.0, 0.5])
    assert best.tolist() == [3.0, 1.0, 1.0, 0.5]
    assert arg.tolist() == [0, 1, 1, 3]


def test_of_accepts_the_campaign_section() -> None:
    from e2t_discovery.config.schema import ObjectiveConfig

    section = ObjectiveConfig(direction="range", low=1.0, high=2.0)
    assert Objective.of(section) == Objective("range", 1.0, 2.0)
    assert Objective.of("minimize") == Objective("minimize")
