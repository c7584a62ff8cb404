"""Kernel path: Nystroem features of a fixed kernel appended to the E2T embedding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e2t_discovery.exceptions import ConfigError, ModelError
from e2t_discovery.model import E2TSurrogate
from e2t_discovery.model.encoder import Standardizer
from e2t_discovery.model.kernel_path import KernelFeatures

FAST = {"head": "bayes", "steps": 60, "n_support": 96, "n_query": 32, "hidden": (32, 32),
        "eval_every": 20,
        "device": "cpu"}


def _counts(n: int, d: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(0.4, size=(n, d)).astype(np.float32)


def _tanimoto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    dot = a @ b.T
    return dot / ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - dot)


@pytest.mark.parametrize("kernel", ["tanimoto", "rbf"])
def test_nystroem_features_reproduce_the_kernel_on_landmarks(kernel: str) -> None:
    X = _counts(120)
    std = Standardizer.fit(X)
    feats = KernelFeatures.fit(X, std, kernel, m=40, seed=3)
    assert feats.dim <= 40
    lm = feats.landmarks  # transformed rows (tanimoto) or standardized rows (rbf)
    t = torch.from_numpy(lm)
    f = feats.transform_torch(t, t).double().numpy()
    if kernel == "tanimoto":
        expected = _tanimoto(lm.astype(np.float64), lm.astype(np.float64))
    else:
        d2 = ((lm[:, None, :].astype(np.float64) - lm[None, :, :]) ** 2).sum(-1)
        expected = np.exp(-d2 / feats.bandwidth)
    np.testing.assert_allclose(f @ f.T, expected, atol=1e-3)
    # Any input: the approximate kernel is symmetric, bounded and ~1 on the diagonal for
    # inputs that are landmarks.
    xt = torch.from_numpy(X)
    zt = torch.from_numpy(std.transform(X))
    f = feats.transform_torch(xt, zt).double().numpy()
    gram = f @ f.T
    assert np.allclose(gram, gram.T) and np.all(np.diag(gram) <= 1.0 + 1e-3)


def test_tanimoto_needs_counts() -> None:
    X = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    with pytest.raises(ModelError, match="non-negative"):
        E2TSurrogate(**FAST, kernel_dim=16, kernel="tanimoto").fit(
            X, X[:, 0], np.repeat(np.arange(5), 10), progress=False)
    with pytest.raises(ConfigError, match="kernel_dim"):
        E2TSurrogate(kernel_dim=-1)
    with pytest.raises(ConfigError, match="kernel"):
        E2TSurrogate(kernel="cosine")


def test_kernel_surrogate_fits_round_trips_and_matches_botorch_path(tmp_path) -> None:
    rng = np.random.default_rng(1)
    X = _counts(240, seed=1)
    groups = np.repeat(np.arange(6), 40)
    y = X[:, :8].sum(1) + 0.3 * groups + 0.05 * rng.normal(size=240)
    tr, te = groups < 5, groups == 5
    model = E2TSurrogate(**FAST, kernel_dim=64, input_transform="log1p").fit(
        X[tr], y[tr], groups[tr], progress=False)
    assert model.embed(X[:3]).shape[1] == 16 + 4 + 64
    mean, std = model.predict(X[te], return_std=True)
    rmse = np.sqrt(np.mean((mean - y[te]) ** 2))
    assert rmse < np.sqrt(np.mean((y[tr].mean() - y[te]) ** 2)) and np.all(std > 0)
    m3, s3, d3 = model.predict_with_distance(X[te])
    np.testing.assert_array_equal(m3, mean)
    np.testing.assert_array_equal(s3, std)
    np.testing.assert_array_equal(d3, model.domain_distance(X[te]))
    # The differentiable (BoTorch) path computes the same posterior mean.
    jm, _ = model.joint_posterior_torch(torch.from_numpy(X[te][:5]).unsqueeze(0))
    np.testing.assert_allclose(jm[0].detach().numpy(), mean[:5], rtol=1e-4, atol=1e-4)
    model.save(tmp_path / "m")
    loaded = E2TSurrogate.load(tmp_path / "m")
    m2, s2 = loaded.predict(X[te], return_std=True)
    np.testing.assert_array_equal(mean, m2)
    np.testing.assert_array_equal(std, s2)
    # Conditioning on the new domain moves predictions there without any gradient step.
    loaded.condition(X[te][:20], y[te][:20] + 3.0)
    assert np.mean(loaded.predict(X[te][20:]) - mean[20:]) > 0.2


def test_mse_training_without_validation_calibrates_the_noise_on_episodes() -> None:
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(6), 50)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    X[:, 0] += groups
    y = X[:, 0] + 0.3 * rng.normal(size=300)
    settings = {**FAST, "loss": "mse", "head": "ridge", "val_fraction": 0.0}
    fixed = E2TSurrogate(**settings, calibrate=False).fit(X, y, groups, progress=False)
    calibrated = E2TSurrogate(**settings).fit(X, y, groups, progress=False)
    # the noise is never trained by MSE: without calibration it keeps its initial value
    assert fixed.noise_std == pytest.approx(np.sqrt(0.5) * y.std(), rel=1e-6)
    assert calibrated.noise_std != pytest.approx(fixed.noise_std, rel=1e-3)
    # calibration changes only the variance, never the mean
    np.testing.assert_allclose(calibrated.predict(X), fixed.predict(X), rtol=1e-6)
    assert 0.05 < calibrated.noise_std < 2.0 * y.std()
