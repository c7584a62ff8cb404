"""Extrapolation benchmark: every method on the same out-of-domain splits and seeds.

A *method* is a factory ``seed -> model`` whose model has ``fit(X, y, groups)`` and
``predict(X, return_std=True)`` (the E2T surrogate and every baseline), and optionally
``fit_info() -> dict[str, float]`` whose values are reported beside the metrics. For each split,
each method is fitted on the training rows and scored on the test domain; deterministic
methods are fitted once. The *oracle* is fitted with a random half of the test domain
added to the training rows and scored on the other half.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from e2t_discovery.exceptions import ModelError

__all__ = [
    "Method",
    "regression_metrics",
    "summarize_runs",
    "evaluate_split",
    "environment_info",
    "Z90",
]

#: Two-sided 90% normal quantile.
Z90 = 1.6448536269514722


@dataclass(frozen=True)
class Method:
    """A benchmarked method.

    Attributes:
        factory: ``seed -> model`` (fit/predict interface).
        deterministic: Fit once instead of once per seed.
        oracle: Train with half of the test domain added, score on the other half.
        max_seeds: Run at most this many seeds (None = all).
        params: Settings recorded with the results.
        input: Key of the inputs to use when :func:`evaluate_split` gets a dict of inputs
            (e.g. ``"X"`` descriptors for baselines, ``"graphs"`` for a graph encoder).
        transductive: ``fit`` also gets the test rows' *inputs*, unlabelled, as
            ``library`` (the candidates a campaign would screen); never their targets.
    """

    factory: Callable[[int], Any]
    deterministic: bool = False
    oracle: bool = False
    max_seeds: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    input: str = "X"
    transductive: bool = False


def regression_metrics(y: np.ndarray, mean: np.ndarray,
                       std: np.ndarray | None = None) -> dict[str, float]:
    """R², RMSE, MAE and, with a std, 90% interval coverage and mean Gaussian NLL.

    Args:
        y: ``n`` true values.
        mean: ``n`` predicted means.
        std: ``n`` predictive standard deviations (> 0), optional.
    """
    y, mean = np.asarray(y, float), np.asarray(mean, float)
    err = mean - y
    ss_tot = float(((y - y.mean()) ** 2).sum())
    out = {
        "r2": 1.0 - float((err**2).sum()) / ss_tot if ss_tot > 0 else float("nan"),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
    }
    if std is not None:
        s = np.maximum(np.asarray(std, float), 1e-12)
        out["coverage90"] = float(np.mean(np.abs(err) <= Z90 * s))
        out["nll"] = float(np.mean(0.5 * np.log(2 * math.pi * s**2) + 0.5 * (err / s) ** 2))
    return out


def summarize_runs(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean and std over runs of every metric: ``{"rmse_mean", "rmse_std", ...}``."""
    if not runs:
        raise ModelError("no runs to summarize")
    out: dict[str, float] = {}
    for key in runs[0]:
        values = np.array([r[key] for r in runs], dtype=float)
        out[f"{key}_mean"] = float(values.mean())
        out[f"{key}_std"] = float(values.std())
    out["n_runs"] = len(runs)
    return out


def _run_one(model: Any, X: Any, y: np.ndarray, groups: np.ndarray, train: np.ndarray,
             test: np.ndarray, transductive: bool = False) -> dict[str, float]:
    take = (lambda idx: X[idx]) if isinstance(X, np.ndarray) else (
        lambda idx: [X[int(i)] for i in idx])
    extra = {"library": take(test)} if transductive else {}
    model.fit(take(train), y[train], groups[train], **extra)
    mean, std = model.predict(take(test), return_std=True)
    metrics = regression_metrics(y[test], mean, std)
    info = getattr(model, "fit_info", None)
    return {**metrics, **info()} if callable(info) else metrics


def evaluate_split(
    X: Any,
    y: np.ndarray,
    groups: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    methods: dict[str, Method],
    seeds: Sequence[int],
    on_done: Callable[[str, int], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Fit and score every method on one split.

    Args:
        X: ``n x d`` array or list of ``n`` inputs (graphs), or a dict of such inputs
            from which each method takes ``X[method.input]``.
        y: ``n`` targets.
        groups: ``n`` domain labels (given to ``fit``).
        train: Training row positions.
        test: Test row positions (one or more domains never seen in training).
        methods: Name -> :class:`Method`.
        seeds: Seeds; each non-deterministic method is run once per seed.
        on_done: Called with ``(method, seed)`` after each run (progress reporting).

    Returns:
        Name -> :func:`summarize_runs` output (plus ``deterministic``/``oracle`` flags).
    """
    results: dict[str, dict[str, float]] = {}
    for name, method in methods.items():
        runs = []
        limit = 1 if method.deterministic else method.max_seeds
        for seed in seeds[:limit]:
            tr, te = train, test
            if method.oracle:
                perm = np.random.default_rng(10_000 + seed).permutation(test)
                half = perm.size // 2
                tr, te = np.concatenate([train, perm[:half]]), np.sort(perm[half:])
            data = X[method.input] if isinstance(X, dict) else X
            runs.append(_run_one(method.factory(seed), data, y, groups, tr, te,
                                 method.transductive))
            if on_done is not None:
                on_done(name, seed)
        summary: dict[str, Any] = summarize_runs(runs)
        summary["deterministic"] = method.deterministic
        summary["oracle"] = method.oracle
        results[name] = summary
    return results


def environment_info() -> dict[str, Any]:
    """Versions of the main libraries and a description of the machine."""
    import os

    import sklearn
    import torch

    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "torch": torch.__version__, "scikit-learn": sklearn.__version__}
    for mod in ("botorch", "gpytorch", "rdkit", "pymatgen.core"):
        try:
            versions[mod.split(".")[0]] = __import__(mod, fromlist=["__version__"]).__version__
        except (ImportError, AttributeError):
            versions[mod.split(".")[0]] = "unavailable"
    machine = {"platform": platform.platform(), "processor": platform.machine(),
               "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "cuda": torch.cuda.is_available()}
    return {"versions": versions, "machine": machine}
