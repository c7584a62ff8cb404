"""Benchmark metrics and the split evaluator."""

from __future__ import annotations

import numpy as np
import pytest

from e2t_discovery.model.baselines import make_baseline
from e2t_discovery.model.benchmark import Method, evaluate_split, regression_metrics


def test_regression_metrics_values() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    m = regression_metrics(y, y + np.array([0.1, -0.1, 0.1, -0.1]), np.full(4, 0.1))
    assert m["rmse"] == pytest.approx(0.1) and m["mae"] == pytest.approx(0.1)
    assert m["r2"] == pytest.approx(1 - 0.04 / 5.0)
    assert m["coverage90"] == 1.0
    assert m["nll"] == pytest.approx(0.5 * np.log(2 * np.pi * 0.01) + 0.5)
    assert regression_metrics(y, y + 1.0, np.full(4, 0.1))["coverage90"] == 0.0


def test_evaluate_split_runs_deterministic_once_and_oracle_on_half() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X[:, 0] + 0.01 * rng.normal(size=60)
    groups = np.repeat([0, 1, 2], 20)
    methods = {"ridge": Method(lambda s: make_baseline("ridge"), deterministic=True),
               "rf": Method(lambda s: make_baseline("rf", n_estimators=10, seed=s)),
               "oracle": Method(lambda s: make_baseline("ridge"), oracle=True)}
    out = evaluate_split(X, y, groups, np.arange(40), np.arange(40, 60), methods, [0, 1, 2])
    assert out["ridge"]["n_runs"] == 1 and out["rf"]["n_runs"] == 3
    assert out["ridge"]["r2_mean"] > 0.99 and out["oracle"]["oracle"] is True


def test_transductive_method_gets_the_test_inputs_and_never_their_targets() -> None:
    """A ``transductive`` method's fit sees the test rows' inputs as ``library``."""
    from e2t_discovery.model import E2TSurrogate

    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3))
    X[:, 0] += np.repeat([0.0, 1.0, 2.0, 3.0], 20)
    y = X[:, 0] + 0.05 * rng.normal(size=80)
    groups = np.repeat([0, 1, 2, 3], 20)
    seen: dict[str, object] = {}

    class Spy:
        def __init__(self) -> None:
            self.model = E2TSurrogate(steps=1, validation="nearest", val_fraction=0.34,
                                      hidden=(8,), device="cpu")
            seen["spy"] = self

        def fit(self, X, y, groups, **options):  # noqa: ANN001, ANN003, ANN202
            seen.update(options, y=y)
            self.model.fit(X, y, groups, progress=False, **options)
            return self

        def predict(self, X, return_std=False):  # noqa: ANN001, ANN202
            return self.model.predict(X, return_std=return_std)

    test = np.arange(60, 80)
    out = evaluate_split(X, y, groups, np.arange(60), test,
                         {"near": Method(lambda s: Spy(), transductive=True)}, [0])
    np.testing.assert_array_equal(seen["library"], X[test])
    assert len(seen["y"]) == 60  # the test targets never reach fit
    assert out["near"]["r2_mean"] > 0.5
    # the training domain nearest the test domain (2, next along the shift) was held out
    spy = seen["spy"]
    assert isinstance(spy, Spy) and spy.model.validation_domains["order"][0] == 2
