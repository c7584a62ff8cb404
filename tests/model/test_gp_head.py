"""The GP head of the E2T surrogate: equal to BoTorch's GP, exact updates, gated training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e2t_discovery.exceptions import ConfigError, ModelError
from e2t_discovery.model import E2TSurrogate
from e2t_discovery.model.gp_head import GPHead
from e2t_discovery.model.gp_surrogate import GPHeadSurrogate

FAST = {"steps": 60, "n_support": 64, "n_query": 24, "hidden": (16, 16), "eval_every": 20,
        "device": "cpu"}


def _task(seed: int = 0) -> dict[str, np.ndarray]:
    """Five domains along a trend; the last lies beyond the training range."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(5), 40)
    X = rng.normal(size=(200, 6))
    X[:, 0] += 1.2 * groups
    y = 1.5 * X[:, 0] + np.sin(2 * X[:, 1]) + 0.05 * rng.normal(size=200)
    tr = groups < 4
    return {"X": X[tr], "y": y[tr], "g": groups[tr], "Xt": X[~tr], "yt": y[~tr]}


def _counts(seed: int = 0, n: int = 150, d: int = 40) -> dict[str, np.ndarray]:
    """Sparse integer counts (fingerprint-like) in three domains."""
    rng = np.random.default_rng(seed)
    X = rng.poisson(0.4, size=(n, d)).astype(np.float64)
    groups = np.repeat(np.arange(3), n // 3)
    X[:, :3] += groups[:, None]
    y = X[:, :10].sum(1) * 0.3 + 0.1 * rng.normal(size=n)
    return {"X": X, "y": y, "g": groups}


@pytest.fixture(scope="module")
def task() -> dict[str, np.ndarray]:
    return _task()


@pytest.fixture(scope="module")
def fitted(task) -> GPHeadSurrogate:
    model = E2TSurrogate(**FAST).fit(task["X"], task["y"], task["g"], progress=False)
    assert isinstance(model, GPHeadSurrogate)
    return model


def test_gp_head_is_the_default_and_validates_its_options() -> None:
    assert isinstance(E2TSurrogate(), GPHeadSurrogate)
    assert type(E2TSurrogate(head="bayes")) is E2TSurrogate
    with pytest.raises(ConfigError, match=r"model\.settings\.kernel_dim = 8 is invalid: "
                                          "kernel_dim is the linear heads' kernel path"):
        E2TSurrogate(kernel_dim=8)
    with pytest.raises(ConfigError, match="the GP head needs encoder='mlp'"):
        E2TSurrogate(encoder="graph", head="gp")
    assert E2TSurrogate(encoder="graph").config.head == "bayes"
    with pytest.raises(ConfigError, match="base_kernel = 'cosine' is invalid: use one of"):
        E2TSurrogate(base_kernel="cosine")


def test_base_kernel_auto_picks_minmax_for_counts_and_rbf_linear_otherwise(task) -> None:
    data = _counts()
    counts = E2TSurrogate(**{**FAST, "steps": 1}).fit(data["X"], data["y"], data["g"],
                                                     progress=False)
    assert counts.config.base_kernel == "minmax"
    signed = E2TSurrogate(**{**FAST, "steps": 1}).fit(task["X"], task["y"], task["g"],
                                                     progress=False)
    assert signed.config.base_kernel == "rbf_linear"
    # fit_info on either base (a descriptor base once raised AttributeError here, which
    # killed the HOIP benchmark); block weights only with base_blocks > 1 (tested below)
    for model in (counts, signed):
        info = model.fit_info()
        assert 0.0 <= info["phi_active"] <= 1.0 and "block_weight_0" not in info


def test_fixed_part_equals_botorch_single_task_gp(task) -> None:
    """With the learned part off, the head's closed forms are BoTorch's exact GP."""
    from botorch.models import SingleTaskGP

    x = torch.tensor(task["X"], dtype=torch.float64)
    y = torch.tensor((task["y"] - task["y"].mean()) / task["y"].std(), dtype=torch.float64)
    head = GPHead(x, base="rbf_linear", phi_kernel="rbf", hidden=(8,))
    head.fit_marginal_likelihood(x, y)
    head.eval()
    assert not bool(head.phi_active)
    gp = SingleTaskGP(x, y.unsqueeze(-1), likelihood=head.likelihood,
                      covar_module=head.kernel(), mean_module=head.mean_module,
                      outcome_transform=None).eval()
    xt = torch.tensor(task["Xt"][:9], dtype=torch.float64)
    with torch.no_grad():
        post = head.posterior(x, y)
        mean, lvar, _ = post.moments(xt)
        ref = gp.posterior(xt)
        np.testing.assert_allclose(mean.numpy(), ref.mean.squeeze(-1).numpy(), atol=1e-6)
        np.testing.assert_allclose(lvar.numpy(), ref.variance.squeeze(-1).numpy(), atol=1e-6)
        np.testing.assert_allclose(post.joint_cov(xt).numpy(),
                                   ref.distribution.covariance_matrix.numpy(), atol=1e-6)


def test_botorch_model_is_a_single_task_gp_with_the_heads_joint_posterior(task, fitted) -> None:
    from botorch.models import SingleTaskGP

    model = fitted.to_botorch()
    assert isinstance(model, SingleTaskGP)
    xt = task["Xt"][:7]
    mean, cov = fitted.posterior(xt)
    with torch.no_grad():
        post = model.posterior(torch.tensor(xt, dtype=torch.float64))
    np.testing.assert_allclose(post.mean.squeeze(-1).numpy(), mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(post.distribution.covariance_matrix.numpy(), cov,
                               rtol=1e-5, atol=1e-6 * fitted.y_std**2)
    _, std = fitted.predict(xt, return_std=True)
    np.testing.assert_allclose(np.sqrt(np.diag(cov) + fitted.noise_std**2), std, rtol=1e-6)
    # fantasies work natively (BoTorch's own machinery, no adapter)
    fant = model.fantasize(torch.tensor(xt[:2], dtype=torch.float64),
                           sampler=_sampler(4))
    assert fant.posterior(torch.tensor(xt[2:4])).mean.shape == (4, 2, 1)


def _sampler(n: int):  # noqa: ANN202
    from botorch.sampling import SobolQMCNormalSampler

    return SobolQMCNormalSampler(sample_shape=torch.Size([n]), seed=0)


def test_save_load_round_trips_predictions_exactly(task, fitted, tmp_path) -> None:
    fitted.save(tmp_path / "m")
    assert not list((tmp_path / "m").glob("*.pkl"))
    loaded = E2TSurrogate.load(tmp_path / "m")
    assert isinstance(loaded, GPHeadSurrogate)
    m0, s0 = fitted.predict(task["Xt"], return_std=True)
    m1, s1 = loaded.predict(task["Xt"], return_std=True)
    np.testing.assert_array_equal(m0, m1)
    np.testing.assert_array_equal(s0, s1)
    np.testing.assert_array_equal(fitted.domain_distance(task["Xt"]),
                                  loaded.domain_distance(task["Xt"]))


def test_condition_equals_refitting_the_head_on_the_enlarged_support(task, tmp_path) -> None:
    model = E2TSurrogate(**FAST).fit(task["X"], task["y"], task["g"], progress=False)
    model.save(tmp_path / "m")
    model.condition(task["Xt"][:10], task["yt"][:10])
    assert model.n_support == task["X"].shape[0] + 10
    # the same head, its posterior computed from scratch on the enlarged support
    fresh = E2TSurrogate.load(tmp_path / "m")
    head = fresh.members[0]
    x = torch.tensor(np.vstack([task["X"], task["Xt"][:10]]).astype(np.float32),
                     dtype=torch.float64)  # the surrogate keeps inputs as float32
    ys = (np.concatenate([task["y"], task["yt"][:10]]) - fresh.y_mean) / fresh.y_std
    with torch.no_grad():
        post = head.posterior(x, torch.tensor(ys))
        mean, lvar, _ = post.moments(torch.tensor(task["Xt"][10:].astype(np.float32),
                                                  dtype=torch.float64))
    got_mean, got_std = model.predict(task["Xt"][10:], return_std=True)
    np.testing.assert_allclose(got_mean, mean.numpy() * fresh.y_std + fresh.y_mean, rtol=1e-9)
    want_std = np.sqrt(lvar.numpy() + float(head.noise_var)) * fresh.y_std
    np.testing.assert_allclose(got_std, want_std, rtol=1e-9)
    # and the conditioned points are now predicted closely
    near = model.predict(task["Xt"][:10])
    assert np.sqrt(np.mean((near - task["yt"][:10]) ** 2)) < 0.2


def test_episodes_never_put_a_query_domain_into_the_support(task, monkeypatch) -> None:
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    original = GPHeadSurrogate._query

    def spy(self, head, x, ys, cache, s, q):  # noqa: ANN001, ANN202
        seen.append((s, q))
        return original(self, head, x, ys, cache, s, q)

    monkeypatch.setattr(GPHeadSurrogate, "_query", spy)
    E2TSurrogate(**{**FAST, "steps": 15, "eval_every": 5}).fit(
        task["X"], task["y"], task["g"], progress=False)
    assert len(seen) >= 15
    for s, q in seen:
        assert not set(task["g"][s]) & set(task["g"][q])


def test_gate_keeps_the_marginal_likelihood_gp_when_episodes_do_not_help(task) -> None:
    """A learned part that cannot beat step 0 on held-out domains is switched off."""
    # two steps at a huge learning rate wreck phi, so the gate must keep step 0
    model = E2TSurrogate(**{**FAST, "steps": 2, "eval_every": 1, "lr": 5.0, "hyper_lr": 5.0,
                            "calibrate": False}).fit(
        task["X"], task["y"], task["g"], progress=False)
    assert model.history[0]["step"] == 0 and len(model.history) == 3
    head = model.members[0]
    assert not bool(head.phi_active)
    # ... and the member is exactly the marginal-likelihood GP on the training data
    ref = model._new_member(model._X)
    x = torch.tensor(model._X, dtype=torch.float64)
    ys = torch.tensor((model._y - model.y_mean) / model.y_std)
    from e2t_discovery.model.training import threads_for

    with threads_for(len(ys), model.device):  # as in fit: same thread count, same sums
        ref.fit_marginal_likelihood(x, ys)
    ref.eval()
    xt = torch.tensor(task["Xt"].astype(np.float32), dtype=torch.float64)
    with torch.no_grad():
        want = ref.posterior(x, ys).mean(xt).numpy() * model.y_std + model.y_mean
    np.testing.assert_allclose(model.predict(task["Xt"]), want, rtol=1e-9)


def test_gate_turns_the_learned_part_on_when_held_out_domains_reward_it() -> None:
    """Counts whose target follows one count past its training range: the MinMax kernel
    reverts to the mean out of range, a linear kernel on phi follows the trend."""
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(6), 40)
    X = rng.poisson(1.0, size=(240, 20)).astype(np.float64)
    X[:, 0] += rng.poisson(2.0 * groups)
    y = 0.5 * X[:, 0] + 0.05 * rng.normal(size=240)
    model = E2TSurrogate(**{**FAST, "steps": 125, "eval_every": 25, "patience": 8,
                            "lr": 3e-3, "base_kernel": "minmax", "phi_kernel": "linear",
                            "phi_scale": 0.05, "val_fraction": 0.34}).fit(
        X, y, groups, progress=False)
    history = model.history
    assert bool(model.members[0].phi_active)
    assert bool(model.members[0].phi_active) == any(h["accepted"] for h in history[1:])
    # every accepted state beats step 0 on every held-out domain, not only pooled
    step0 = np.array(history[0]["val_domains"])
    assert step0.size >= 2
    for h in history[1:]:
        if h["accepted"]:
            assert (np.array(h["val_domains"]) < step0).all() and h["val"] < history[0]["val"]


def test_without_phi_episodes_train_the_fixed_part_alone(task) -> None:
    """``phi_kernel="none"`` with ``train_base``: the hyperparameters are trained on
    episodes and gated like phi; without ``train_base`` the head stays the ML GP."""
    opts = {**FAST, "phi_kernel": "none", "base_kernel": "rbf_linear", "steps": 40,
            "eval_every": 10, "patience": 8, "gate": "pooled", "calibrate": False}
    tuned = E2TSurrogate(**opts, train_base=True).fit(task["X"], task["y"], task["g"],
                                                      progress=False)
    plain = E2TSurrogate(**opts, train_base=False).fit(task["X"], task["y"], task["g"],
                                                       progress=False)
    assert tuned.members[0].encoder is None and not bool(tuned.members[0].phi_active)
    steps = [h["step"] for h in tuned.history]
    assert steps[0] == 0 and max(steps) > 0  # episodes ran and were scored
    assert [h["step"] for h in plain.history] == []  # nothing to train
    kept = any(h["accepted"] for h in tuned.history if h["step"] > 0)
    assert tuned.fit_info()["episodic_kept"] == float(kept)
    moved = not torch.equal(tuned.members[0].base_k.raw_outputscale,
                            plain.members[0].base_k.raw_outputscale)
    assert moved == kept  # the hyperparameters change only if the gate took a state
    if kept:  # the gate's choice is the held-out score's best
        best = min(h["val"] for h in tuned.history)
        assert any(h["accepted"] and h["val"] == best for h in tuned.history)


def test_nearest_validation_holds_out_the_domains_most_like_the_library(task) -> None:
    """``validation="nearest"``: the held-out domains are those nearest the unlabelled
    candidates, the same for every member; without candidates one clear error."""
    opts = {**FAST, "steps": 20, "eval_every": 10, "ensemble": 2, "val_fraction": 0.25,
            "validation": "nearest"}
    # candidates beyond the last training domain along the trend (task: domain 4)
    model = E2TSurrogate(**opts).fit(task["X"], task["y"], task["g"], progress=False,
                                     library=task["Xt"])
    order = model.validation_domains["order"]
    assert sorted(order) == [0, 1, 2, 3] and order[0] == 3  # the nearest training domain
    distance = model.validation_domains["distance"]
    assert distance == sorted(distance)
    # both members held out that one domain (one of four: val_fraction 0.25)
    step0 = [h for h in model.history if h["step"] == 0]
    assert len(step0) == 2 and all(len(h["val_domains"]) == 1 for h in step0)
    assert step0[0]["val"] == step0[1]["val"]  # the same held-out rows, the same ML GP
    # candidates near the first domain move it to the front
    near0 = task["X"][task["g"] == 0][:10]
    again = E2TSurrogate(**opts).fit(task["X"], task["y"], task["g"], progress=False,
                                     library=near0)
    assert again.validation_domains["order"][0] == 0
    with pytest.raises(ModelError, match="library"):
        E2TSurrogate(**opts).fit(task["X"], task["y"], task["g"], progress=False)
    with pytest.raises(ConfigError, match="validation"):
        E2TSurrogate(head="bayes", validation="nearest")
    # the default draws its own held-out domains and records none
    plain = E2TSurrogate(**{**opts, "validation": "random"}).fit(
        task["X"], task["y"], task["g"], progress=False, library=task["Xt"])
    assert plain.validation_domains is None


def test_every_domain_gate_refuses_a_state_that_loses_one_held_out_domain() -> None:
    """Pooled improvement is not enough when one held-out domain gets worse."""
    strict = E2TSurrogate(**FAST)
    pooled = E2TSurrogate(**FAST, gate="pooled")
    assert strict.config.gate == "every_domain"
    step0 = np.array([1.0, 1.0, 1.0])
    one_worse = np.array([0.2, 0.3, 1.05])  # pooled 0.52 < 1.0, domain 3 worse
    all_better = np.array([0.9, 0.95, 0.99])
    assert not strict._accepts(0.52, one_worse, 1.0, step0)
    assert pooled._accepts(0.52, one_worse, 1.0, step0)
    assert strict._accepts(0.95, all_better, 1.0, step0)
    # the pooled score must still beat the best so far by min_improvement
    assert not strict._accepts(0.999, all_better, 1.0, step0)
    with pytest.raises(ConfigError, match="gate"):
        E2TSurrogate(gate="majority")


def test_calibration_scales_variances_not_means(task) -> None:
    raw = E2TSurrogate(**{**FAST, "calibrate": False}).fit(task["X"], task["y"], task["g"],
                                                          progress=False)
    cal = E2TSurrogate(**FAST).fit(task["X"], task["y"], task["g"], progress=False)
    m0, s0 = raw.predict(task["Xt"], return_std=True)
    m1, s1 = cal.predict(task["Xt"], return_std=True)
    np.testing.assert_allclose(m0, m1, rtol=1e-6, atol=1e-8)
    ratio = s1 / s0
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)


def test_calibration_factor_targets_coverage_or_nll() -> None:
    from e2t_discovery.model.benchmark import Z90
    from e2t_discovery.model.gp_surrogate import calibration_factor

    rng = np.random.default_rng(0)
    # heavy-tailed held-out errors (Student t, 3 dof) at unit predicted variance
    z2 = rng.standard_t(3, size=20_000) ** 2
    cov = calibration_factor(z2, "coverage")
    nll = calibration_factor(z2, "nll")
    # after dividing by the factor, 90% of the rows lie inside +- Z90
    assert np.mean(z2 / cov <= Z90 ** 2) == pytest.approx(0.90, abs=0.002)
    assert nll == pytest.approx(z2.mean())
    assert np.mean(z2 / nll <= Z90 ** 2) > 0.92  # the mean square over-covers
    # Gaussian errors at twice the predicted std: both targets find ~4
    g2 = (2.0 * rng.normal(size=20_000)) ** 2
    assert calibration_factor(g2, "coverage") == pytest.approx(4.0, rel=0.05)
    assert calibration_factor(g2, "nll") == pytest.approx(4.0, rel=0.05)
    assert np.isnan(calibration_factor(np.array([np.nan]), "coverage"))


def test_fit_records_the_calibration_it_applied(task) -> None:
    raw = E2TSurrogate(**{**FAST, "calibrate": False}).fit(task["X"], task["y"], task["g"],
                                                          progress=False)
    models = {t: E2TSurrogate(**{**FAST, "calibration_target": t}).fit(
        task["X"], task["y"], task["g"], progress=False) for t in ("coverage", "nll")}
    s0 = raw.predict(task["Xt"], return_std=True)[1]
    for target, model in models.items():
        (record,) = model.calibrations  # one member
        assert record["target"] == target and record["rows"] > 0
        assert record["calibration"] == record[f"factor_{target}"]
        assert model.fit_info()["calibration"] == pytest.approx(record["calibration"])
        # the predictive variance moved by exactly that factor (inside the bounds)
        s1 = model.predict(task["Xt"], return_std=True)[1]
        factor = np.clip(record["calibration"], 0.05, 100.0)
        np.testing.assert_allclose((s1 / s0) ** 2, factor, rtol=1e-3)
    with pytest.raises(ConfigError, match="calibration_target"):
        E2TSurrogate(calibration_target="quantile")


def test_adapt_fine_tunes_and_keeps_predictions_finite(task) -> None:
    model = E2TSurrogate(**FAST).fit(task["X"], task["y"], task["g"], progress=False)
    model.adapt(task["Xt"][:8], task["yt"][:8], steps=10)
    mean, std = model.predict(task["Xt"][8:], return_std=True)
    assert model.n_support == task["X"].shape[0] + 8
    assert np.isfinite(mean).all() and (std > 0).all()


def test_domain_distance_grows_away_from_the_support(task, fitted) -> None:
    near = fitted.domain_distance(task["X"])
    far = fitted.domain_distance(task["Xt"] * 6.0)
    assert np.all((near >= 0) & (near <= 1)) and np.all((far >= 0) & (far <= 1))
    assert np.median(far) > np.median(near)


def test_low_rank_variances_only_overstate_and_stay_close() -> None:
    import copy

    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(4), 100)
    X = rng.normal(size=(400, 5))
    X[:, 0] += groups
    y = np.sin(X[:, 0]) + X[:, 1] + 0.1 * rng.normal(size=400)
    exact = E2TSurrogate(**{**FAST, "steps": 1}, base_kernel="rbf", var_rank=0).fit(
        X, y, groups, progress=False)
    low = copy.deepcopy(exact)
    low.config = low.config.replace(var_rank=48)
    low._refresh_caches()
    assert exact._caches[0].root is None and low._caches[0].root.shape == (48, 400)
    Xt = rng.normal(size=(200, 5)) + [2.0, 0, 0, 0, 0]
    m0, s0 = exact.predict(Xt, return_std=True)
    m1, s1 = low.predict(Xt, return_std=True)
    np.testing.assert_allclose(m0, m1, rtol=1e-10)
    assert np.all(s1 >= s0 * (1 - 1e-9))
    assert np.median(s1 / s0 - 1) < 0.05
    # the joint posterior stays exact
    _, cov = low.posterior(Xt[:5])
    np.testing.assert_allclose(np.sqrt(np.diag(cov) + low.noise_std**2), s0[:5], rtol=1e-8)


@pytest.mark.parametrize("head", ["gp", "bayes"])
def test_out_of_domain_flag_from_held_out_training_domains(head) -> None:
    data = _counts(n=240)
    model = E2TSurrogate(**FAST, head=head).fit(data["X"], data["y"], data["g"],
                                                 progress=False)
    rng = np.random.default_rng(5)
    far = rng.poisson(0.4, size=(40, 40)).astype(np.float64)
    far[:, 20:26] += 4  # a fragment pattern no training domain has
    before = model.predict(far, return_std=True)
    threshold = model.out_of_domain_threshold()
    after = model.predict(far, return_std=True)  # the support is restored exactly
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert 0 < threshold < np.inf
    assert not model.out_of_domain(data["X"]).any()  # measured rows are pinned down
    assert model.out_of_domain(far).mean() > 0.8
    model.condition(far[:5], before[0][:5])  # new support: the threshold is recomputed
    assert model._ood_threshold is None
    assert model.out_of_domain_threshold() != threshold


def test_one_domain_flags_nothing(task) -> None:
    model = E2TSurrogate(**FAST).fit(task["X"], task["y"], np.zeros(len(task["y"])),
                                     progress=False)
    assert model.out_of_domain_threshold() == np.inf
    assert not model.out_of_domain(task["Xt"] + 6.0).any()


def test_scaling_variances_down_keeps_the_noise_above_its_bound(task) -> None:
    """A near-noiseless fit calibrated down must not push the noise out of its constraint."""
    head = GPHead(torch.tensor(task["X"]), base="rbf")
    floor = float(head.likelihood.noise_covar.raw_noise_constraint.lower_bound)
    scale = float(head.base_k.outputscale)
    head.scale_variances(1e-9)
    assert float(head.noise_var) > floor
    assert float(head.base_k.outputscale) == pytest.approx(scale * 1e-9)


def test_inducing_posterior_past_exact_rows_is_exact_with_every_row_and_close_with_fewer(
) -> None:
    """Past ``exact_rows`` the head uses inducing points; all rows inducing = exact GP."""
    import copy

    from e2t_discovery.model.gp_posterior import GPPosterior, InducingPosterior

    data = _counts(n=300, d=60)
    exact = E2TSurrogate(**{**FAST, "steps": 1}).fit(data["X"], data["y"], data["g"],
                                                   progress=False)
    assert isinstance(exact._caches[0], GPPosterior)
    rng = np.random.default_rng(7)
    Xt = rng.poisson(0.5, size=(120, 60)).astype(np.float64)
    m0, s0 = exact.predict(Xt, return_std=True)
    _, cov0 = exact.posterior(Xt[:6])
    full = copy.deepcopy(exact)
    full.config = full.config.replace(exact_rows=100, inducing_rows=300)
    full._refresh_caches()
    assert isinstance(full._caches[0], InducingPosterior)
    m1, s1 = full.predict(Xt, return_std=True)
    np.testing.assert_allclose(m1, m0, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s1, s0, rtol=1e-6)
    _, cov1 = full.posterior(Xt[:6])
    np.testing.assert_allclose(cov1, cov0, rtol=1e-5, atol=1e-9)
    few = copy.deepcopy(exact)
    few.config = few.config.replace(exact_rows=100, inducing_rows=120)
    few._refresh_caches()
    assert few._caches[0].x.shape[0] == 120 and few._caches[0].n_support == 300
    m2, s2 = few.predict(Xt, return_std=True)
    assert np.all(np.isfinite(m2)) and np.all(s2 > 0)
    assert np.sqrt(np.mean((m2 - m0) ** 2)) < 0.5 * np.std(m0)  # an approximation, not noise
    with pytest.raises(ConfigError, match="inducing_rows"):
        E2TSurrogate(**FAST, inducing_rows=0)


def test_blocked_minmax_base_fits_weights_round_trips_and_predicts_through_the_index(
        tmp_path) -> None:
    """Two count blocks (as two fingerprint radii): ML block weights, exact reload, and the
    indexed prediction path equals the dense closed form."""
    data = _counts(d=40)
    X = np.concatenate([data["X"], np.minimum(data["X"], 1.0)], axis=1)  # 2 blocks of 40
    model = E2TSurrogate(**{**FAST, "steps": 1, "base_kernel": "minmax", "base_blocks": 2,
                            "var_rank": 0}).fit(X, data["y"], data["g"], progress=False)
    assert isinstance(model, GPHeadSurrogate)
    weights = model.members[0].base_k.base_kernel.weights.detach().numpy()
    assert weights.shape == (2,) and np.isclose(weights.sum(), 1.0)
    assert not np.allclose(weights, 0.5)  # the marginal likelihood moved them
    info = model.fit_info()
    assert np.isclose(info["block_weight_0"] + info["block_weight_1"], 1.0)
    model.save(tmp_path / "m")
    loaded = E2TSurrogate.load(tmp_path / "m")
    np.testing.assert_array_equal(model.predict(X), loaded.predict(X))
    head = model.members[0]
    post = model._posts()[0]
    xt = torch.tensor(X[:17])
    with torch.no_grad():
        indexed = post._base_cross(xt)
        assert indexed is not None  # the blocked index served it
        dense = head.base_gram(post.x, xt)
        np.testing.assert_allclose(indexed.numpy(), dense.numpy(), rtol=1e-10, atol=1e-12)


def test_base_blocks_are_validated_with_a_clear_line() -> None:
    with pytest.raises(ConfigError, match="base_blocks = 2 is invalid: blocks are MinMax"):
        E2TSurrogate(base_kernel="rbf", base_blocks=2)
    with pytest.raises(ConfigError, match="base_blocks = 0 is invalid: must be >= 1"):
        E2TSurrogate(base_blocks=0)
    data = _counts(d=41)
    from e2t_discovery.exceptions import ModelError

    with pytest.raises(ModelError, match="base_blocks=2 needs the input columns to split "
                                         "into equal blocks, got 41 columns"):
        E2TSurrogate(**{**FAST, "steps": 1, "base_blocks": 2}).fit(
            data["X"], data["y"], data["g"], progress=False)


def _two_block_task(signal_block: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Two independent 30-column count blocks in five domains; y follows one block."""
    rng = np.random.default_rng(seed)
    n = 200
    groups = np.repeat(np.arange(5), n // 5)
    blocks = [rng.poisson(0.5, size=(n, 30)).astype(np.float64) for _ in range(2)]
    for b in blocks:
        b[:, :4] += groups[:, None] % 3  # domains differ in both blocks
    y = blocks[signal_block][:, 4:14].sum(1) * 0.4 + 0.05 * rng.normal(size=n)
    return {"X": np.concatenate(blocks, axis=1), "y": y, "g": groups}


@pytest.mark.parametrize("signal_block", [0, 1])
def test_block_weights_stay_only_when_held_out_domains_reward_them(signal_block) -> None:
    """The last block alone competes with the fitted block weights on held-out domains:
    when y follows the first block the weights are kept, when it follows the last block
    the fit falls back to the last block alone."""
    data = _two_block_task(signal_block)
    model = E2TSurrogate(**{**FAST, "steps": 1, "base_kernel": "minmax", "base_blocks": 2,
                            "ensemble": 2}).fit(data["X"], data["y"], data["g"],
                                                progress=False)
    picks = [h for h in model.history if h["step"] == -1]
    assert len(picks) == 2 and all("last_block_val" in h for h in picks)
    kept = [h["blocks_kept"] for h in picks]
    assert model.fit_info()["blocks_kept"] == np.mean(kept)
    last = [float(m.base_k.base_kernel.weights.detach()[-1]) for m in model.members]
    if signal_block == 0:
        assert all(kept)
        assert all(w < 0.5 for w in last)
    else:
        assert not any(kept)
        assert all(w > 1 - 1e-9 for w in last)


def test_adversarial_step_moves_queries_towards_higher_variance(fitted, task) -> None:
    from e2t_discovery.model.gp_surrogate import adversarial_queries

    head = fitted.members[0]
    x, ys = fitted._x(task["X"]), fitted._ys()
    s, q = slice(0, 100), slice(100, 140)
    x_adv = adversarial_queries(head, x[s], ys[s], x[q], 0.2, x[s].std(0))
    assert x_adv.shape == x[q].shape and not x_adv.requires_grad
    step = (x_adv - x[q]).abs()
    torch.testing.assert_close(step.max(0).values, 0.2 * x[s].std(0), rtol=1e-6, atol=0.0)
    with torch.no_grad():
        _, var = head.query_moments(x[s], ys[s], x[q])
        _, var_adv = head.query_moments(x[s], ys[s], x_adv)
    assert float(var_adv.mean()) > float(var.mean())


def test_adversarial_augmentation_adds_a_query_loss_per_episode(task, monkeypatch) -> None:
    calls: list[int] = []
    original = GPHeadSurrogate._adversarial_loss

    def counted(self, *args):  # noqa: ANN001, ANN202
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(GPHeadSurrogate, "_adversarial_loss", counted)
    model = E2TSurrogate(**{**FAST, "adversarial": 0.1}).fit(task["X"], task["y"], task["g"],
                                                              progress=False)
    trained = max(h["step"] for h in model.history)
    assert len(calls) == trained > 0  # one adversarial query loss per training step
    assert np.isfinite(model.predict(task["Xt"])).all()
    with pytest.raises(ConfigError, match="adversarial"):
        E2TSurrogate(**{**FAST, "adversarial": -0.1})
    with pytest.raises(ConfigError, match="option of the GP head"):
        E2TSurrogate(head="ridge", adversarial=0.1)
    counts = _counts()
    from e2t_discovery.exceptions import ModelError

    with pytest.raises(ModelError, match="adversarial augmentation needs descriptor inputs"):
        E2TSurrogate(**{**FAST, "adversarial": 0.1}).fit(counts["X"], counts["y"],
                                                         counts["g"], progress=False)
