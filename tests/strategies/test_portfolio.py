"""portfolio (exploit/explore arms, seats by Thompson sampling over the arms), on
constructed posteriors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from posterior_helpers import FixedPosterior, correlated
from scipy.linalg import block_diag

from e2t_discovery import strategies
from e2t_discovery.exceptions import StrategyError
from e2t_discovery.strategies.portfolio import arm_rewards, greedy_variance


def world() -> dict[str, object]:
    """Candidates c0-c5 with a high mean and small std; two groups of look-alikes
    (c6-c9, c10-c13) with a low mean and large std, tightly correlated within a group."""
    mean = np.r_[np.full(6, 3.1), np.full(8, -3.0)]
    cov = block_diag(np.diag(np.full(6, 0.05**2)), correlated(4, 2.0, 0.99),
                     correlated(4, 1.9, 0.99))
    frame = pd.DataFrame({"id": [f"c{i}" for i in range(14)], "mean": mean,
                          "std": np.sqrt(np.diag(cov)), "domain": ["A"] * 14})
    return {"frame": frame, "model": FixedPosterior(mean, cov),
            "features": np.arange(14).reshape(-1, 1)}


def history(explore_value: float, exploit_value: float, n: int = 10) -> pd.DataFrame:
    """Measured: 5 initial rows (values 0.1-0.5), then ``n`` picks of each arm."""
    return pd.DataFrame({
        "id": [f"m{i}" for i in range(5 + 2 * n)],
        "value": [0.1, 0.2, 0.3, 0.4, 0.5] + [explore_value] * n + [exploit_value] * n,
        "strategy": [None] * 5 + ["portfolio"] * (2 * n),
        "reason": [None] * 5 + ["explore arm, seat 1"] * n + ["exploit arm, seat 1"] * n})


def pick(measured: pd.DataFrame | None, q: int, seed: int = 0, **kw: object) -> pd.DataFrame:
    w = world()
    return strategies.get("portfolio", **kw).select(
        w["frame"], q, model=w["model"], features=w["features"], measured=measured, rng=seed)


def arms(out: pd.DataFrame) -> list[str]:
    return [r.split(" ")[0] for r in out["reason"]]


def test_greedy_variance_is_the_conditional_variance_and_spreads_over_groups() -> None:
    cov = block_diag(correlated(3, 1.0, 0.95), correlated(2, 0.9, 0.95))
    picks, variances = greedy_variance(cov, 3)
    assert picks[0] == 0 and picks[1] == 3  # the second group, not a look-alike of c0
    for k, i in enumerate(picks):  # brute force: Schur complement given earlier picks
        before = picks[:k]
        expect = cov[i, i] - (cov[i, before] @ np.linalg.solve(
            cov[np.ix_(before, before)], cov[before, i]) if before else 0.0)
        assert variances[k] == pytest.approx(expect, abs=1e-12)


def test_rewards_are_the_fraction_of_measured_values_beaten_by_own_picks_only() -> None:
    measured = history(explore_value=10.0, exploit_value=0.0, n=2).assign(
        strategy=[None] * 5 + ["portfolio", "ucb", "portfolio", "portfolio"])
    r = arm_rewards(measured, 1.0, "portfolio")
    assert r["explore"].tolist() == [7 / 9]  # the 'ucb' row does not count
    assert r["exploit"].tolist() == [0.0, 0.0]
    flipped = arm_rewards(measured, -1.0, "portfolio")  # minimizing: 0.0 beats the rest
    assert flipped["exploit"].tolist() == [7 / 9, 7 / 9]
    assert arm_rewards(measured.drop(columns="reason"), 1.0, "portfolio")["explore"].size == 0


def test_an_arm_whose_picks_paid_off_gets_the_seats() -> None:
    explored = pick(history(explore_value=9.0, exploit_value=0.0), 4)
    assert arms(explored) == ["explore"] * 4
    # explore picks spread over both uncertain groups
    assert {int(i[1:]) >= 10 for i in explored["id"]} == {False, True}
    assert all(int(i[1:]) >= 6 for i in explored["id"])
    exploited = pick(history(explore_value=0.0, exploit_value=3.0), 4)
    assert arms(exploited) == ["exploit"] * 4
    assert set(exploited["id"]) <= {f"c{i}" for i in range(6)}  # best LogEI: high mean


def test_without_history_the_seats_split_evenly_in_expectation() -> None:
    measured = history(0.0, 0.0, n=0)
    counts = [arms(pick(measured, 10, seed=s)).count("explore") for s in range(40)]
    assert 3.5 < np.mean(counts) < 6.5
    assert min(counts) < 5 < max(counts)


def test_without_an_incumbent_every_seat_explores_one_per_uncertain_group() -> None:
    out = pick(None, 2)
    assert arms(out) == ["explore", "explore"]
    groups = {int(i[1:]) >= 10 for i in out["id"]}
    assert groups == {False, True} and all(int(i[1:]) >= 6 for i in out["id"])


def test_never_repeats_measured_or_proposed_and_asks_the_loop_for_uncertain_rows() -> None:
    w = world()
    measured = history(5.0, 5.0, n=1).assign(id=["m0", "m1", "m2", "m3", "m4", "c6", "c0"])
    strat = strategies.get("portfolio", explore_shortlist=8)
    assert strat.uncertain_candidates() == 8
    out = strat.select(w["frame"], 12, model=w["model"], features=w["features"],
                       measured=measured, proposed={"c10"}, rng=3)
    assert len(out) == 11 and out["id"].is_unique
    assert not {"c6", "c0", "c10"} & set(out["id"])


def test_bad_parameters_and_objective_range_are_refused() -> None:
    with pytest.raises(StrategyError, match="explore_shortlist=0 must be a number > 0"):
        strategies.get("portfolio", explore_shortlist=0)
    with pytest.raises(StrategyError, match="objective maximize or minimize, not 'range'"):
        world_frame = world()["frame"]
        strategies.get("portfolio").select(world_frame, 2, objective="range")
