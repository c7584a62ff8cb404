"""logei, qlognei and thompson: BoTorch and the surrogate's joint posterior."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.utils import prune_inferior_points
from botorch.sampling import SobolQMCNormalSampler
from scipy.stats import norm

from e2t_discovery import strategies
from e2t_discovery.exceptions import StrategyError
from e2t_discovery.strategies.thompson import sample_joint


def test_logei_matches_closed_form_on_marginals(frame):
    measured = pd.DataFrame({"id": ["m"], "value": [2.8]})
    out = strategies.get("logei").select(frame, 5, measured=measured)
    mu, sd = frame["mean"].to_numpy(), frame["std"].to_numpy()
    z = (mu - 2.8) / np.maximum(sd, 1e-12)
    ei = np.maximum(sd, 1e-12) * (z * norm.cdf(z) + norm.pdf(z))
    with np.errstate(divide="ignore"):
        expected = dict(zip(frame["id"], np.log(ei), strict=True))
    order = sorted(frame["id"], key=lambda i: -expected[i])
    assert out["id"].tolist() == order
    finite = out["id"].isin(["c", "d", "e"])  # a, b: EI underflows differently in log space
    np.testing.assert_allclose(out.loc[finite, "acquisition"],
                               [expected[i] for i in out.loc[finite, "id"]], rtol=1e-4)


def test_logei_needs_measured_values(frame):
    with pytest.raises(StrategyError, match="needs measured values"):
        strategies.get("logei").select(frame, 1)


def test_logei_through_the_surrogate(fitted):
    out = strategies.get("logei").select(
        fitted["candidates"], 4, model=fitted["model"], features=fitted["features"],
        measured=fitted["measured"])
    assert len(out) == 4 and out["acquisition"].is_monotonic_decreasing


def test_qlognei_runs_through_botorch_on_the_surrogate(fitted):
    cands, P = fitted["candidates"], fitted["features"]
    strat = strategies.get("qlognei", shortlist=30, mc_samples=64)
    out = strat.select(cands, 3, model=fitted["model"], features=P,
                       measured=fitted["measured"],
                       measured_features=fitted["measured_features"], rng=0)
    assert len(out) == 3 and out["id"].is_unique
    shortlisted = set(cands.sort_values("mean", key=lambda m: -(m + 2 * cands["std"]))
                      ["id"].head(30))
    assert set(out["id"]) <= shortlisted
    # the first pick maximizes single-point qLogNEI over the shortlist (same sampler seed)
    pool = np.flatnonzero(cands["id"].isin(shortlisted).to_numpy())
    seed, prune_seed = (int(s) for s in np.random.default_rng(0).integers(2**31, size=2))
    model = fitted["model"].to_botorch()
    baseline = prune_inferior_points(
        model, torch.as_tensor(fitted["measured_features"], dtype=torch.float64),
        sampler=SobolQMCNormalSampler(sample_shape=torch.Size([64]), seed=prune_seed))
    acqf = qLogNoisyExpectedImprovement(
        model=model, X_baseline=baseline,
        sampler=SobolQMCNormalSampler(sample_shape=torch.Size([64]), seed=seed),
        prune_baseline=False, cache_root=False)
    with torch.no_grad():
        values = acqf(torch.as_tensor(P[pool], dtype=torch.float64).unsqueeze(-2)).numpy()
    assert out["id"].iloc[0] == cands["id"].iloc[pool[int(np.argmax(values))]]


def test_qlognei_needs_measured_features(fitted):
    with pytest.raises(StrategyError, match="measured_features"):
        strategies.get("qlognei").select(fitted["candidates"], 2, model=fitted["model"],
                                         features=fitted["features"])


def test_sample_joint_reproduces_mean_and_covariance():
    cov = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 0.25]])
    draws = sample_joint(np.array([1.0, -1.0, 0.0]), cov, 20000, np.random.default_rng(0))
    np.testing.assert_allclose(draws.mean(0), [1.0, -1.0, 0.0], atol=0.03)
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.03)
    singular = np.ones((3, 3))  # rank one: all three move together
    same = sample_joint(np.zeros(3), singular, 5, np.random.default_rng(1))
    np.testing.assert_allclose(same[:, 0], same[:, 2], atol=1e-8)


def test_thompson_without_uncertainty_is_greedy(frame):
    flat = frame.assign(std=0.0)
    out = strategies.get("thompson").select(flat, 3, rng=0)
    assert out["id"].tolist() == ["c", "e", "b"]
    assert out["reason"].str.contains("independent draw").all()


def test_thompson_uses_the_joint_posterior(fitted):
    out = strategies.get("thompson", shortlist=50).select(
        fitted["candidates"], 5, model=fitted["model"], features=fitted["features"], rng=3)
    assert len(out) == 5 and out["id"].is_unique
    assert out["reason"].str.contains("joint posterior draw").all()
    again = strategies.get("thompson", shortlist=50).select(
        fitted["candidates"], 5, model=fitted["model"], features=fitted["features"], rng=3)
    assert out["id"].tolist() == again["id"].tolist()


def test_logei_to_minimize_is_the_log_improvement_below_the_best(frame):
    measured = pd.DataFrame({"id": ["m"], "value": [1.2]})
    strat = strategies.get("logei")
    assert strat.acquisition_column("minimize") == ("log_ei", 1.0)
    out = strat.select(frame, 5, measured=measured, objective="minimize")
    mu, sd = out["mean"].to_numpy(), np.maximum(out["std"].to_numpy(), 1e-12)
    z = (1.2 - mu) / sd
    with np.errstate(divide="ignore"):
        expected = np.log(sd * (z * norm.cdf(z) + norm.pdf(z)))
    finite = out["id"].isin(["a", "d"]).to_numpy()  # the others' EI underflows
    np.testing.assert_allclose(out.loc[finite, "acquisition"], expected[finite], rtol=1e-4)
    assert out["id"].tolist()[:2] == ["d", "a"]


def test_thompson_states_the_draw_in_the_targets_terms(frame):
    flat = frame.assign(std=0.0)  # draws equal the means
    strat = strategies.get("thompson")
    column, factor = strat.acquisition_column("minimize")
    assert column == "thompson_draw"
    low = strat.select(flat, 3, rng=0, objective="minimize")
    assert low["id"].tolist() == ["d", "a", "b"]
    np.testing.assert_allclose(factor * low["acquisition"], [0.5, 1.0, 2.0])
    assert strat.acquisition_column("maximize") == ("thompson_draw", 1.0)
