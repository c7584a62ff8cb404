"""domain-bayes (allocation by posterior win probability) and the landmark draws it shares
with thompson, on constructed posteriors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from posterior_helpers import FixedPosterior, correlated
from scipy.linalg import block_diag

from e2t_discovery import strategies
from e2t_discovery.exceptions import StrategyError
from e2t_discovery.strategies._sampling import landmark_draws
from e2t_discovery.strategies.domain_bayes import allocate, win_probabilities


def world(new_mean: float, new_std: float) -> dict[str, object]:
    """Two measured domains near the incumbent (3.0) and one unmeasured domain ``N``."""
    mean = np.r_[np.full(8, 2.8), np.full(8, 2.6), np.full(4, new_mean)]
    cov = block_diag(correlated(8, 0.3, 0.5), correlated(8, 0.3, 0.5),
                     correlated(4, new_std, 0.5))
    domains = ["A"] * 8 + ["B"] * 8 + ["N"] * 4
    frame = pd.DataFrame({"id": [f"c{i}" for i in range(20)], "mean": mean,
                          "std": np.sqrt(np.diag(cov)), "domain": domains})
    measured = pd.DataFrame({"id": ["m1", "m2", "m3"], "domain": ["A", "A", "B"],
                             "value": [3.0, 2.0, 2.5]})
    return {"frame": frame, "model": FixedPosterior(mean, cov),
            "features": np.arange(20).reshape(-1, 1), "measured": measured}


def select(w: dict[str, object], q: int, **kw: object) -> pd.DataFrame:
    return strategies.get("domain-bayes", **kw).select(
        w["frame"], q, model=w["model"], features=w["features"], measured=w["measured"],
        rng=0)


@pytest.mark.parametrize("event,least", [("beats", 3), ("best", 4)])
def test_unmeasured_domain_with_a_likely_win_gets_most_picks(event, least):
    w = world(new_mean=3.5, new_std=1.0)  # above the incumbent, wide
    out = select(w, 6, event=event)
    per_domain = out["domain"].value_counts()
    assert per_domain["N"] >= least and per_domain["N"] == per_domain.max()
    assert per_domain.sum() == 6
    reason = out.loc[out["domain"] == "N", "reason"].iloc[0]
    assert reason.startswith("domain 'N' (0 measured): P(domain ")
    assert f"{per_domain['N']} of 6 picks" in reason and "joint posterior draws" in reason


def test_unmeasured_domain_far_below_the_incumbent_gets_none():
    w = world(new_mean=-5.0, new_std=0.01)  # hopeless, however unmeasured
    out = select(w, 6)
    assert "N" not in set(out["domain"])
    assert set(out["domain"]) <= {"A", "B"} and len(out) == 6
    # the fixed-share strategy would spend half the batch on it
    fixed = strategies.get("new-domain", share=0.5).select(w["frame"], 6,
                                                           measured=w["measured"])
    assert (fixed["domain"] == "N").sum() == 3


def test_minimizing_flips_which_domain_is_promising():
    w = world(new_mean=-5.0, new_std=0.01)
    w["measured"] = w["measured"].assign(value=[0.0, 1.0, 2.0])  # best (lowest) is 0.0
    out = strategies.get("domain-bayes").select(
        w["frame"], 4, model=w["model"], features=w["features"], measured=w["measured"],
        objective="minimize", rng=0)
    assert (out["domain"] == "N").all()  # -5 is far below the incumbent 0: certain wins


def test_allocation_is_proportional_for_equal_domains():
    mean = np.zeros(10)
    cov = np.eye(10)
    frame = pd.DataFrame({"id": [str(i) for i in range(10)], "mean": mean, "std": 1.0,
                          "domain": ["X"] * 5 + ["Y"] * 5})
    out = strategies.get("domain-bayes", samples=2000).select(
        frame, 6, model=FixedPosterior(mean, cov), features=np.arange(10)[:, None], rng=1)
    assert out["domain"].value_counts().to_dict() == {"X": 3, "Y": 3}
    # no incumbent: the event is holding the shortlist's best draw
    assert out["reason"].str.contains(r"P\(domain holds the best").all()


def test_picks_inside_a_domain_avoid_near_copies():
    # 0 and 1 move together (rho 0.999) and lead; 2 is a little lower but independent
    mean = np.array([1.0, 1.0, 0.9])
    cov = np.array([[1.0, 0.999, 0.0], [0.999, 1.0, 0.0], [0.0, 0.0, 1.0]])
    frame = pd.DataFrame({"id": ["a", "b", "c"], "mean": mean, "std": 1.0,
                          "domain": ["X"] * 3})
    measured = pd.DataFrame({"id": ["m"], "domain": ["X"], "value": [1.0]})
    out = strategies.get("domain-bayes", samples=4000).select(
        frame, 2, model=FixedPosterior(mean, cov), features=np.arange(3)[:, None],
        measured=measured, rng=0)
    assert set(out["id"]) in ({"a", "c"}, {"b", "c"})
    assert out["acquisition"].iloc[0] > out["acquisition"].iloc[1] > 0


def test_never_repeats_measured_or_proposed_and_respects_q(frame):
    measured = pd.DataFrame({"id": ["c"], "domain": ["B"], "value": [3.0]})
    strat = strategies.get("domain-bayes")
    out = strat.select(frame, 2, measured=measured, proposed={"e"}, rng=1)
    assert len(out) == 2 and out["id"].is_unique and not set(out["id"]) & {"c", "e"}
    assert out["reason"].str.contains("independent draws (no model given)",
                                      regex=False).all()
    everything = strat.select(frame, 10, measured=measured, proposed={"e"}, rng=1)
    assert sorted(everything["id"]) == ["a", "b", "d"]


def test_on_the_real_surrogate_batches_are_new_distinct_and_reproducible(fitted):
    kw = {"model": fitted["model"], "features": fitted["features"],
          "measured": fitted["measured"], "rng": 7}
    strat = strategies.get("domain-bayes", per_domain=8, shortlist=40, samples=256)
    out = strat.select(fitted["candidates"], 8, **kw)
    assert len(out) == 8 and out["id"].is_unique
    assert not set(out["id"]) & set(fitted["measured"]["id"])
    assert out["reason"].str.contains("joint posterior draws").all()
    again = strat.select(fitted["candidates"], 8, **kw)
    assert out["id"].tolist() == again["id"].tolist()
    assert out["reason"].tolist() == again["reason"].tolist()


def test_range_objective_is_refused_with_one_line(frame):
    with pytest.raises(StrategyError, match="'domain-bayes' supports objective maximize or "
                                            "minimize, not 'range'"):
        strategies.get("domain-bayes").select(frame, 2, objective="range")


def test_bad_parameters_are_refused():
    with pytest.raises(StrategyError, match="min_share=1.5"):
        strategies.get("domain-bayes", min_share=1.5)
    with pytest.raises(StrategyError, match="samples=0"):
        strategies.get("domain-bayes", samples=0)
    with pytest.raises(StrategyError, match="event='max' must be one of beats, best"):
        strategies.get("domain-bayes", event="max")


@pytest.mark.parametrize("p,cap,q,expected", [
    ([0.5, 0.3, 0.2], [9, 9, 9], 10, [5, 3, 2]),
    ([0.45, 0.35, 0.2], [9, 9, 9], 4, [2, 1, 1]),    # remainders .8, .4, .8: a and c
    ([0.9, 0.08, 0.02], [9, 9, 9], 10, [9, 1, 0]),   # .02 < min_share: none
    ([0.9, 0.1, 0.0], [2, 9, 9], 6, [2, 4, 0]),      # a full: its seats go to b, not c
    ([0.6, 0.4], [1, 1], 5, [1, 1]),                 # the domains cannot hold q
])
def test_allocate_largest_remainder(p, cap, q, expected):
    seats = allocate(np.array(p), q, np.array(cap), min_share=0.05)
    assert seats.tolist() == expected


def test_win_probabilities_count_only_wins_over_the_incumbent():
    draws = np.array([[1.0, 0.0], [0.0, 2.0], [0.5, 0.4], [3.0, 1.0]])
    codes = np.array([0, 1])
    p, beats = win_probabilities(draws, codes, 2, incumbent=0.8, event="beats")
    assert beats and p.tolist() == [0.5, 0.5]  # domain 0 beats 0.8 in draws 1, 4; 1 in 2, 4
    p, beats = win_probabilities(draws, codes, 2, incumbent=0.8, event="best")
    assert beats and p.tolist() == [0.5, 0.25]  # draws 1, 4 held by 0; 2 by 1; 3 no win
    p, beats = win_probabilities(draws, codes, 2, incumbent=10.0)
    assert not beats and p.tolist() == [0.75, 0.25]  # no win: who holds the best


def test_landmark_draws_keep_marginals_and_landmark_correlations():
    rng = np.random.default_rng(0)
    F = rng.standard_normal((300, 5))
    cov = F @ F.T + np.diag(rng.uniform(0.1, 0.5, 300))
    mean = rng.standard_normal(300)
    model = FixedPosterior(mean, cov)
    draws = landmark_draws(model.posterior, np.arange(300)[:, None], 20000, 20,
                           np.random.default_rng(1))
    assert max(model.asked) == 40  # never the 300 x 300 covariance
    np.testing.assert_allclose(draws.mean(0), mean, atol=0.05)
    emp = np.cov(draws.T)
    np.testing.assert_allclose(np.diag(emp), np.diag(cov), rtol=0.05)
    # covariances with a landmark are exact; between others, through the landmarks
    scale = np.abs(cov).max()
    assert np.abs(emp - cov)[:20].max() < 0.05 * scale
    assert np.abs(emp - cov)[20:, 20:].max() < 0.2 * scale
    # as many landmarks as rows: the exact joint
    exact = landmark_draws(model.posterior, np.arange(30)[:, None], 20000, 30,
                           np.random.default_rng(2))
    np.testing.assert_allclose(np.cov(exact.T), cov[:30, :30], atol=0.05 * scale)


def test_long_shortlists_use_landmarks():
    w = world(new_mean=3.5, new_std=1.0)
    out = select(w, 6, rank=4)  # 20 shortlisted > 4 * 4; the landmarks are N's four
    assert out["reason"].str.contains("4 landmarks exact").all()
    # A's and B's members are correlated with each other but not with the landmarks, so
    # they are drawn independently: their domains' maxima spread wider than exactly
    assert out["domain"].value_counts()["N"] >= 2


def test_thompson_draws_long_shortlists_through_landmarks():
    n = 1100  # > 4 * 256: no 1100 x 1100 covariance
    rng = np.random.default_rng(3)
    F = rng.standard_normal((n, 4))
    model = FixedPosterior(rng.standard_normal(n), 0.1 * F @ F.T + 0.05 * np.eye(n))
    frame = pd.DataFrame({"id": [str(i) for i in range(n)], "mean": model.mean,
                          "std": np.sqrt(np.diag(model.cov))})
    out = strategies.get("thompson", shortlist=n).select(
        frame, 5, model=model, features=np.arange(n)[:, None], rng=0)
    assert len(out) == 5 and out["id"].is_unique
    assert out["reason"].str.contains("256 landmarks").all() and max(model.asked) == 512


@pytest.mark.parametrize("name", strategies.available())
def test_every_strategy_refuses_objective_range_in_one_line(name, frame):
    with pytest.raises(StrategyError, match=rf"^strategy '{name}' supports objective maximize "
                                            r"or minimize, not 'range'$"):
        strategies.get(name).select(frame, 1, objective="range")
