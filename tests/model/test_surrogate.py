"""E2TSurrogate: extrapolation on a synthetic task, conditioning, adaptation, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from e2t_discovery.exceptions import ConfigError, ModelError, NotFittedError
from e2t_discovery.featurize.graph import CrystalGraph
from e2t_discovery.model import E2TSurrogate, SurrogateConfig

FAST = {"head": "bayes", "steps": 150, "n_support": 96, "n_query": 32, "hidden": (32, 32),
        "eval_every": 25,
        "device": "cpu"}


def _task(seed: int = 0) -> dict[str, np.ndarray]:
    """Six domains along a trend; the last domain lies beyond the training range."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(6), 60)
    X = rng.normal(size=(360, 8))
    X[:, 0] += 1.5 * groups
    y = 2.0 * X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * X[:, 2] + 0.1 * rng.normal(size=360)
    tr = groups < 5
    return {"X": X[tr], "y": y[tr], "g": groups[tr], "Xt": X[~tr], "yt": y[~tr]}


@pytest.fixture(scope="module")
def task() -> dict[str, np.ndarray]:
    return _task()


@pytest.fixture(scope="module")
def fitted(task) -> E2TSurrogate:
    return E2TSurrogate(**FAST).fit(task["X"], task["y"], task["g"], progress=False)


def test_short_training_beats_mean_predictor_out_of_domain(task, fitted) -> None:
    mean, std = fitted.predict(task["Xt"], return_std=True)
    rmse = np.sqrt(np.mean((mean - task["yt"]) ** 2))
    rmse_mean = np.sqrt(np.mean((task["y"].mean() - task["yt"]) ** 2))
    assert rmse < 0.3 * rmse_mean
    assert std.shape == mean.shape == (60,) and np.all(std > 0)
    assert fitted.is_fitted and fitted.n_support == 300
    assert fitted.history and all(np.isfinite(h["val"]) for h in fitted.history)


def test_posterior_and_domain_distance(task, fitted) -> None:
    mean, cov = fitted.posterior(task["Xt"][:7])
    np.testing.assert_allclose(mean, fitted.predict(task["Xt"][:7]), rtol=1e-6)
    assert cov.shape == (7, 7) and np.allclose(cov, cov.T)
    _, std = fitted.predict(task["Xt"][:7], return_std=True)
    np.testing.assert_allclose(np.sqrt(np.diag(cov) + fitted.noise_std**2), std, rtol=1e-5)
    far = fitted.domain_distance(task["Xt"] * 10.0)
    near = fitted.domain_distance(task["X"])
    assert np.all(near >= 0) and np.median(far) > np.median(near)
    assert fitted.embed(task["X"][:4]).shape == (4, 16 + 4)


def test_condition_changes_predictions_without_gradient_step(task) -> None:
    model = E2TSurrogate(**FAST).fit(task["X"], task["y"], task["g"], progress=False)
    before_params = {k: v.clone() for k, v in model.members[0].state_dict().items()}
    before = model.predict(task["Xt"][30:])
    # Shift the new domain's targets so the support clearly pulls predictions.
    model.condition(task["Xt"][:30], task["yt"][:30] + 5.0)
    after = model.predict(task["Xt"][30:])
    for k, v in model.members[0].state_dict().items():
        assert torch.equal(v, before_params[k]), k
    assert model.n_support == 330
    assert np.mean(after - before) > 0.2


def test_save_load_round_trips_predictions_exactly(task, tmp_path) -> None:
    model = E2TSurrogate(**{**FAST, "ensemble": 2, "steps": 40}).fit(
        task["X"], task["y"], task["g"], progress=False)
    model.condition(task["Xt"][:5], task["yt"][:5])
    model.save(tmp_path / "m")
    loaded = E2TSurrogate.load(tmp_path / "m")
    m1, s1 = model.predict(task["Xt"], return_std=True)
    m2, s2 = loaded.predict(task["Xt"], return_std=True)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(s1, s2)
    assert loaded.n_support == model.n_support and loaded.config == model.config
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "config.json", "support.safetensors", "weights.safetensors"]
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["format"] = 99
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="format 99"):
        E2TSurrogate.load(tmp_path / "m")
    with pytest.raises(ModelError, match="cannot load model"):
        E2TSurrogate.load(tmp_path / "missing")


def test_adapt_fine_tunes_and_improves_on_shifted_domain(task) -> None:
    model = E2TSurrogate(**FAST).fit(task["X"], task["y"], task["g"], progress=False)
    shifted = task["yt"] + 3.0 * np.sin(task["Xt"][:, 3])  # a new mechanism in the new domain
    rmse0 = np.sqrt(np.mean((model.predict(task["Xt"][20:]) - shifted[20:]) ** 2))
    before = [p.clone() for p in model.members[0].encoder.parameters()]
    model.adapt(task["Xt"][:20], shifted[:20], steps=60, lr=1e-3)
    changed = any(not torch.equal(a, b)
                  for a, b in zip(before, model.members[0].encoder.parameters(), strict=True))
    rmse1 = np.sqrt(np.mean((model.predict(task["Xt"][20:]) - shifted[20:]) ** 2))
    assert changed and model.n_support == 320
    assert rmse1 < rmse0


def test_kmeans_domains_when_no_groups_and_errors(task) -> None:
    model = E2TSurrogate(**{**FAST, "steps": 20, "n_clusters": 4})
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(task["X"])
    model.fit(task["X"], task["y"], progress=False)
    assert np.unique(model._domains).size == 4
    with pytest.raises(ModelError, match="X has 3 columns"):
        model.predict(task["X"][:, :3])
    with pytest.raises(ModelError, match="y has 2 values"):
        model.condition(task["X"][:3], [1.0, 2.0])
    with pytest.raises(ConfigError, match="unknown model option"):
        E2TSurrogate(stepz=3)
    with pytest.raises(ConfigError, match=r"model\.settings\.loss = 'l1' is invalid"):
        SurrogateConfig(loss="l1")


def _graph(rng: np.random.Generator, size: float) -> CrystalGraph:
    n = int(rng.integers(3, 7))
    src, dst = np.meshgrid(np.arange(n), np.arange(n))
    keep = src != dst
    edges = np.stack([src[keep], dst[keep]]).astype(np.int64)
    return CrystalGraph(
        node_features=(rng.normal(size=(n, 4)) + size).astype(np.float32),
        edge_index=edges,
        edge_features=rng.random((edges.shape[1], 3)).astype(np.float32),
        global_features=np.array([size, rng.normal()], dtype=np.float32),
    )


def test_graph_encoder_plugs_in_and_round_trips(tmp_path) -> None:
    rng = np.random.default_rng(0)
    sizes = np.repeat(np.arange(4), 15).astype(float)
    graphs = [_graph(rng, s) for s in sizes]
    y = 1.5 * sizes + 0.05 * rng.normal(size=sizes.size)
    model = E2TSurrogate(encoder="graph", steps=25, n_support=30, n_query=10, device="cpu",
                         graph_params={"hidden": 8, "n_conv": 1, "linear_path": "identity"})
    model.fit(graphs[:45], y[:45], sizes[:45], progress=False)
    mean, std = model.predict(graphs[45:], return_std=True)
    assert mean.shape == (15,) and np.all(std > 0)
    assert np.sqrt(np.mean((mean - y[45:]) ** 2)) < np.sqrt(np.mean((y[:45].mean() - y[45:]) ** 2))
    model.save(tmp_path / "g")
    np.testing.assert_array_equal(E2TSurrogate.load(tmp_path / "g").predict(graphs[45:]), mean)
    with pytest.raises(ModelError, match="needs a list of CrystalGraph"):
        model.predict(np.zeros((3, 2)))


def test_small_fits_run_on_one_thread_and_restore_the_count(monkeypatch) -> None:
    import torch

    from e2t_discovery.model import surrogate as module

    seen: list[int] = []
    original = module.E2TSurrogate._train_members

    def spy(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), rng.normal(size=40)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(module.E2TSurrogate, "_train_members", spy)
        E2TSurrogate(head="bayes", steps=2, device="cpu").fit(X, y, np.arange(40) % 4,
                                                               progress=False)
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
