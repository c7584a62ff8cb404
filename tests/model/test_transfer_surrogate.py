"""Transfer models are Surrogates: distance, out of domain, posterior, adapt, one loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from e2t_discovery.model import E2TSurrogate, load_surrogate
from e2t_discovery.model.protocol import Surrogate
from e2t_discovery.model.transfer import METHODS, SourceModel, TransferModel, fit_transfer
from e2t_discovery.model.transfer.base import OOD_THRESHOLD

FAST = {"steps": 10, "hidden": (8,), "embed_dim": 4, "eval_every": 5, "n_support": 48,
        "n_query": 16, "device": "cpu"}


def _f(X: np.ndarray) -> np.ndarray:
    return np.sin(3 * X[:, 0]) + X[:, 1] ** 2 + 0.5 * X[:, 2]


@pytest.fixture(scope="module")
def source() -> SourceModel:
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (120, 3))
    return SourceModel.fit(X, _f(X) + 0.01 * rng.normal(size=120), (X[:, 0] * 4).astype(int),
                           settings=FAST, names=["f"])


def _target(n: int, seed: int, low: float = 0.0, high: float = 0.5
            ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 3))
    X[:, 1] = rng.uniform(low, high, n)  # the target rows cover part of the inputs
    return X, 2.0 * _f(X) - 1.0 + 0.03 * rng.normal(size=n)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_a_surrogate(source: SourceModel, method: str, tmp_path: Path) -> None:
    X, y = _target(20, seed=1)
    model = fit_transfer(method, source, X, y, target_groups=(X[:, 0] > 0.5).astype(int))
    assert isinstance(model, Surrogate)
    # auto returns the model of the method it chose
    assert model.method == method or (method == "auto" and model.selection is not None
                                      and model.method == model.selection["chosen"])
    Xq, _ = _target(30, seed=2)
    mean, std, dist = model.predict_with_distance(Xq)
    ref_mean, ref_std = model.predict(Xq, return_std=True)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(std, ref_std, rtol=1e-6, atol=1e-8)
    assert np.all(dist >= 0) and np.isfinite(dist).all()
    np.testing.assert_array_equal(model.out_of_domain(Xq, dist), model.out_of_domain(Xq))
    pmean, pcov = model.posterior(Xq[:5])
    assert pmean.shape == (5,) and pcov.shape == (5, 5)
    np.testing.assert_allclose(pmean, mean[:5], rtol=1e-5, atol=1e-6)
    # the latent variance plus the noise is the predictive variance
    np.testing.assert_allclose(np.diag(pcov) + model.noise_std**2, std[:5] ** 2, rtol=1e-4)
    model.save(tmp_path / "m")
    loaded = load_surrogate(tmp_path / "m")
    assert isinstance(loaded, TransferModel) and loaded.method == model.method
    np.testing.assert_allclose(loaded.predict(Xq), mean, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["affine", "multitask"])
def test_distance_is_the_variance_left_of_the_prior(source: SourceModel, method: str) -> None:
    X, y = _target(25, seed=3)
    model = fit_transfer(method, source, X, y)
    near = model.domain_distance(X)
    far_X, _ = _target(25, seed=4, low=2.5, high=3.0)  # far outside every row seen
    far = model.domain_distance(far_X)
    assert np.all((near >= 0) & (near <= 1)) and np.all((far >= 0) & (far <= 1))
    assert far.mean() > 2 * near.mean()
    assert near.mean() < OOD_THRESHOLD
    if method == "affine":  # the residual's RBF kernel forgets far away; the multitask
        # data kernel's linear part keeps a fixed share of its variance explained there
        assert far.mean() > OOD_THRESHOLD
        assert model.out_of_domain(far_X).mean() > model.out_of_domain(X).mean()


@pytest.mark.parametrize(("method", "mode"), [("affine", "refit"), ("multitask", "condition"),
                                              ("finetune", "fine-tune")])
def test_adapt_takes_the_new_rows(source: SourceModel, method: str, mode: str) -> None:
    X, y = _target(12, seed=5)
    model = fit_transfer(method, source, X, y)
    assert model.adapt_mode == mode
    X_new, y_new = _target(6, seed=6, low=0.5, high=1.0)
    before = np.abs(model.predict(X_new) - y_new).mean()
    out = model.adapt(X_new, y_new, groups=np.zeros(6, dtype=int), steps=3, lr=1e-4)
    assert out is model and model.y.size == 18
    assert np.abs(model.predict(X_new) - y_new).mean() < before


def test_one_loader_returns_what_was_saved(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (60, 3)).astype(np.float32)
    y = _f(X) + 0.05 * rng.normal(size=60)
    plain = E2TSurrogate(**FAST, seed=0).fit(X, y, (X[:, 0] * 3).astype(int), progress=False)
    plain.save(tmp_path / "plain")
    loaded = load_surrogate(tmp_path / "plain")
    assert isinstance(loaded, E2TSurrogate)
    np.testing.assert_allclose(loaded.predict(X), plain.predict(X), rtol=1e-6)
