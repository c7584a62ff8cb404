"""Transfer learning: affine recovers a and b; every method's fit/predict contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e2t_discovery.exceptions import ModelError
from e2t_discovery.model.transfer import (
    METHODS,
    SourceModel,
    TransferModel,
    fit_transfer,
    load_transfer,
)
from e2t_discovery.model.transfer.base import FrozenKernel

#: Small, fast source surrogates (GP head, short episodic training).
FAST = {"steps": 10, "hidden": (8,), "embed_dim": 4, "eval_every": 5, "n_support": 48,
        "n_query": 16, "device": "cpu"}


def _f(X: np.ndarray) -> np.ndarray:
    return np.sin(3 * X[:, 0]) + X[:, 1] ** 2 + 0.5 * X[:, 2]


def _g(X: np.ndarray) -> np.ndarray:
    """A second source property unrelated to the target."""
    return np.cos(5 * X[:, 1]) * X[:, 0]


@pytest.fixture(scope="module")
def source() -> SourceModel:
    """Two source properties on 120 rows; the second misses a quarter of its values."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (120, 3))
    Y = np.stack([_f(X), _g(X)], 1) + 0.01 * rng.normal(size=(120, 2))
    Y[::4, 1] = np.nan
    groups = (X[:, 0] * 4).astype(int)
    return SourceModel.fit(X, Y, groups, settings=FAST, names=["f", "g"])


def _target(a: float, b: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 3))
    return X, a * _f(X) + b + 0.03 * rng.normal(size=n)


def test_source_model_fits_each_property_on_its_rows(source) -> None:
    assert source.n_sources == 2 and source.n_features == 3
    assert [m.n_support for m in source.models] == [120, 90]
    X, _ = _target(1.0, 0.0, 20, seed=5)
    mean, var = source.predict(X)
    assert mean.shape == var.shape == (20, 2) and np.all(var >= 0)
    assert np.sqrt(np.mean((mean[:, 0] - _f(X)) ** 2)) < 0.1


@pytest.mark.parametrize(("a", "b"), [(2.5, 1.0), (-0.8, 30.0)])
def test_affine_recovers_a_and_b(source, a: float, b: float) -> None:
    # the target is in other units than the source: a and b absorb the conversion
    X, y = _target(a, b, 40, seed=1)
    model = fit_transfer("affine", source, X, y)
    info = model.info()
    assert info["kernel_source"] == "f"
    assert info["a"][0] == pytest.approx(a, rel=0.06)
    assert abs(info["a"][1]) < 0.1 * abs(a)  # the unrelated source gets ~no weight
    assert info["b"] == pytest.approx(b, abs=0.1 * abs(a))
    assert info["noise_std"] < 0.1 * abs(a)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "auto"])
def test_method_contract(source, method: str, tmp_path) -> None:
    X, y = _target(2.0, -1.0, 30, seed=2)
    Xq, yq = _target(2.0, -1.0, 40, seed=3)
    model = fit_transfer(method, source, X, y, seed=0)
    assert isinstance(model, TransferModel) and model.method == method
    mean, std = model.predict(Xq, return_std=True)
    assert mean.shape == std.shape == (40,) and np.all(std > 0)
    rmse = np.sqrt(np.mean((mean - yq) ** 2))
    assert rmse < 0.25 * yq.std()
    z = np.abs(mean - yq) / std
    assert np.mean(z < 1.645) > 0.5  # intervals are not wildly overconfident

    # BoTorch: the joint posterior has the same mean and the predictive variance
    post = model.to_botorch().posterior(torch.as_tensor(Xq[:5]), observation_noise=True)
    np.testing.assert_allclose(post.mean.detach().numpy().ravel(), mean[:5], atol=1e-5)
    np.testing.assert_allclose(post.variance.detach().numpy().ravel(), std[:5] ** 2, rtol=1e-3)

    # save -> load reproduces predictions, without pickle
    model.save(tmp_path / "m")
    assert not list((tmp_path / "m").rglob("*.pt")) and not list((tmp_path / "m").rglob("*.pkl"))
    again = load_transfer(tmp_path / "m")
    np.testing.assert_allclose(again.predict(Xq), mean, atol=1e-8)

    # conditioning on new target measurements moves predictions there, at once
    far = np.array([[0.95, 0.95, 0.95]])
    label = np.array([10.0])
    before = float(model.predict(far)[0])
    model.condition(far, label)
    after = float(model.predict(far)[0])
    assert abs(after - 10.0) < abs(before - 10.0)
    assert model.y.size == 31


def test_finetune_leaves_the_source_untouched(source) -> None:
    X, y = _target(2.0, -1.0, 20, seed=4)
    before = source.predict(X)[0]
    model = fit_transfer("finetune", source, X, y, seed=0)
    np.testing.assert_array_equal(source.predict(X)[0], before)
    assert model.model is not source.models[0]
    assert model.model.n_support == 20


def test_multitask_finds_the_correlated_task(source) -> None:
    X, y = _target(2.0, -1.0, 25, seed=6)
    info = fit_transfer("multitask", source, X, y).info()
    assert info["source_tasks"] == ["f"]  # the default keeps the best-correlated property
    assert info["task_correlation"][0] > 0.9
    assert info["n_source_rows"] == 120
    every = fit_transfer("multitask", source, X, y, source_tasks="all", maxiter=30).info()
    assert every["source_tasks"] == ["f", "g"] and every["n_source_rows"] == 120 + 90


def test_frozen_kernel_caches_and_matches(source) -> None:
    kernel = source.kernel(0)
    frozen = FrozenKernel(kernel)
    x = torch.as_tensor(np.random.default_rng(0).uniform(0, 1, (7, 3)))
    k1 = frozen(x, x).to_dense()
    np.testing.assert_allclose(k1.numpy(), kernel(x, x).to_dense().detach().numpy(), atol=1e-10)
    assert frozen.forward(x, x) is frozen.forward(x.clone(), x.clone())  # cached
    assert all(not p.requires_grad for p in frozen.parameters())


def test_auto_picks_affine_where_the_source_carries_the_target(source, tmp_path) -> None:
    X, y = _target(2.0, -1.0, 24, seed=8)
    model = fit_transfer("auto", source, X, y, target_groups=(X[:, 1] * 4).astype(int))
    sel = model.selection
    assert model.method == "affine" and sel["chosen"] == "affine"
    assert sel["cv_rmse"]["affine"] < sel["cv_rmse"]["finetune"]
    assert sel["folds"].startswith("leave-domains-out (4 domains")
    # the choice is part of the saved model
    model.save(tmp_path / "m")
    assert load_transfer(tmp_path / "m").selection == sel


def test_auto_falls_back_where_the_source_says_nothing(source) -> None:
    """A target unrelated to every source property: the affine map cannot predict held-out
    domains, the re-targeted surrogate (a GP on the target rows) does better."""
    rng = np.random.default_rng(9)
    X = rng.uniform(0, 1, (24, 3))
    y = 3 * np.cos(7 * X[:, 2]) + 0.03 * rng.normal(size=24)
    direct = {m: fit_transfer(m, source, X, y) for m in ("affine", "finetune")}
    model = fit_transfer("auto", source, X, y, target_groups=(X[:, 1] * 4).astype(int))
    assert model.method == "finetune"
    assert model.selection["cv_rmse"]["finetune"] < model.selection["cv_rmse"]["affine"]
    Xq = rng.uniform(0, 1, (30, 3))
    np.testing.assert_allclose(model.predict(Xq), direct["finetune"].predict(Xq), atol=1e-8)


def test_auto_folds_hold_out_whole_domains() -> None:
    from e2t_discovery.model.transfer.select import MAX_FOLDS, cv_folds

    groups = np.repeat(np.arange(11), 3)
    folds, how = cv_folds(groups.size, groups)
    assert len(folds) == MAX_FOLDS and how.startswith("leave-domains-out (11 domains")
    assert sorted(np.concatenate(folds).tolist()) == list(range(groups.size))
    for test in folds:  # a domain is never split between a fold's training and test rows
        assert not set(groups[test]) & set(np.delete(groups, test))
    folds, how = cv_folds(10, np.array([0] * 5 + [1] * 5))  # two domains: random folds
    assert how == "random (8 folds)" and sum(f.size for f in folds) == 10


def test_auto_with_few_labels_takes_the_first_candidate(source) -> None:
    X, y = _target(2.0, -1.0, 4, seed=10)
    model = fit_transfer("auto", source, X, y, candidates=["finetune", "affine"])
    assert model.method == "finetune" and model.selection["cv_rmse"] == {}
    with pytest.raises(ModelError, match="unknown candidate or option 'stacking'"):
        fit_transfer("auto", source, X, y, candidates=["stacking"])


def test_bad_input_is_refused(source) -> None:
    X, y = _target(1.0, 0.0, 10, seed=7)
    with pytest.raises(ModelError, match="unknown transfer method 'magic'"):
        fit_transfer("magic", source, X, y)
    with pytest.raises(ModelError, match="takes n x 3 inputs"):
        fit_transfer("affine", source, X[:, :2], y)
    with pytest.raises(ModelError, match="at least 2 target labels"):
        fit_transfer("affine", source, X[:1], y[:1])
    with pytest.raises(ModelError, match="needs the GP head"):
        SourceModel.fit(X, y, settings={"head": "bayes"})
    with pytest.raises(ModelError, match="has 4 values; need >= 8"):
        SourceModel.fit(np.vstack([X, X]), np.r_[y, np.full(10, np.nan)][:20].reshape(-1)
                        * np.r_[np.ones(4), np.full(16, np.nan)])
