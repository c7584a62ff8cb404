#!/usr/bin/env python
"""Cost of the GP-head E2T: fitting the shipped polymer model, conditioning, predicting.

Measures, on this machine and in one process, with the shipped PI1070 campaign settings
(``fingerprint`` preset):

- ``fit``: the fit on 1,000 PI1070 polymers (thermal conductivity, polymer classes as
  domains): marginal-likelihood warm start, episodic training, gate, calibration;
- ``condition``: adding 1,000 virtual polymers (from the library generator) so the
  support holds 2,000 rows, with no gradient step;
- ``predict``: mean, std and domain distance of 4,096 candidates with that support,
  single thread and all threads (the first prediction after ``condition``, which builds
  the support's MinMax index and the low-rank variance factor, timed apart);
- ``--extra 9000``: the same with 10,000 support rows (the exact-GP scale target);
- ``--inducing 1024 2048``: the inducing-point posterior (what a support past
  ``exact_rows`` gets) forced on that support, against the exact posterior (exact
  variances, not the low-rank factor, whose own overstatement is reported too).
- side by side, the BoTorch ``SingleTaskGP`` with the MinMax kernel fitted on the same
  1,000 rows (the GP baseline), so ratios rather than seconds carry across machines.

Example:
    E2T_DATA_DIR=../shared/data python scripts/bench_gp_head.py \
        --out scripts/results/bench_gp_head.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _peak_rss_gb() -> float:
    """Peak resident memory of this process so far (GB; Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _exact_predict(model: Any, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and stds with exact variances (the rank-``var_rank`` factor switched off)."""
    ranks = [post.var_rank for post in model._caches]
    for post in model._caches:
        post.var_rank = 0
    try:
        mean, std = model.predict(C, return_std=True)
    finally:
        for post, rank in zip(model._caches, ranks, strict=True):
            post.var_rank = rank
    return np.asarray(mean), np.asarray(std)


def _inducing_run(model: Any, C: np.ndarray, m: int) -> dict[str, Any]:
    """The inducing-point posterior with ``m`` rows on ``model``'s support, against exact.

    ``exact_rows`` is set just below the support size, so the approximation that a
    support past 20,000 rows gets is measured where the exact answer is still at hand.
    """
    import copy

    import torch

    mean0, std0 = _exact_predict(model, C)
    approx = copy.deepcopy(model)
    approx.config = approx.config.replace(exact_rows=model.n_support - 1, inducing_rows=m)
    _, build_s = _timed(approx._refresh_caches)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    approx.predict(C[:16])
    (mean1, std1), pred_s = _timed(lambda: approx.predict(C, return_std=True))
    torch.set_num_threads(threads)
    ratio = np.asarray(std1) / np.asarray(std0)
    return {"inducing_rows": m, "n_support": model.n_support, "build_s": round(build_s, 2),
            "predict_per_s_1_thread": round(len(C) / pred_s, 1),
            "mean_rmse_over_std": round(float(np.sqrt(np.mean((mean1 - mean0) ** 2))
                                              / np.std(mean0)), 4),
            "std_ratio_median": round(float(np.median(ratio)), 4),
            "std_ratio_q05": round(float(np.quantile(ratio, 0.05)), 4),
            "std_ratio_q95": round(float(np.quantile(ratio, 0.95)), 4)}


def main(argv: list[str] | None = None) -> int:
    """Run the measurements; print a table; write JSON."""
    import pandas as pd
    import torch

    from e2t_discovery.data.datasets import load_pi1070
    from e2t_discovery.data.generate import generate_polymer_library
    from e2t_discovery.featurize import get_featurizer
    from e2t_discovery.model import E2TSurrogate
    from e2t_discovery.model.baselines import make_baseline
    from e2t_discovery.model.benchmark import environment_info
    from e2t_discovery.model.presets import PRESETS
    from e2t_discovery.screen.library import library_shards

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--extra", type=int, default=1000, help="rows added by condition")
    parser.add_argument("--candidates", type=int, default=4096)
    parser.add_argument("--inducing", type=int, nargs="*", default=[],
                        help="also force the inducing-point posterior with these many "
                             "inducing rows on the conditioned support and compare it "
                             "with the exact one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    featurizer = get_featurizer("polymer")
    pi = load_pi1070().dropna(subset=["thermal_conductivity"]).reset_index(drop=True)
    pi = pi.sample(n=min(args.rows, len(pi)), random_state=args.seed)
    X = featurizer.transform(pi["smiles"].tolist())
    y = pi["thermal_conductivity"].to_numpy(dtype=float)
    groups = pi["polymer_class"].to_numpy()
    with tempfile.TemporaryDirectory(prefix="e2t-bench-gp-") as tmp:
        lib = Path(tmp) / "lib"
        generate_polymer_library(pi["smiles"].tolist(), args.extra + args.candidates,
                                 args.seed, lib, workers=1, progress=False)
        smiles = pd.concat([pd.read_parquet(s, columns=["smiles"])
                            for s in library_shards(lib)])["smiles"].tolist()
    V = featurizer.transform(smiles[: args.extra])
    C = featurizer.transform(smiles[args.extra: args.extra + args.candidates])
    settings = {**PRESETS["fingerprint"], "device": "cpu", "seed": args.seed}
    model, fit_s = _timed(lambda: E2TSurrogate(**settings).fit(X, y, groups, progress=False))
    gp, gp_fit_s = _timed(lambda: make_baseline("gp", kernel="minmax").fit(X, y))
    v_y = np.asarray(model.predict(V))
    _, cond_s = _timed(lambda: model.condition(V, v_y))
    # the first prediction after a condition builds the support's MinMax index and, past
    # 4 x var_rank rows, the low-rank variance factor: timed on its own
    _, first_s = _timed(lambda: model.predict_with_distance(C[:16]))
    _, pred_s = _timed(lambda: model.predict_with_distance(C))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    _, pred1_s = _timed(lambda: model.predict_with_distance(C))
    torch.set_num_threads(threads)
    _, gp_pred_s = _timed(lambda: gp.predict(C, return_std=True))
    approx = [_inducing_run(model, C, m) for m in args.inducing]
    low_rank = None
    if model.n_support > 4 * settings.get("var_rank", 256):
        _, std_exact = _exact_predict(model, C)
        ratio = np.asarray(model.predict(C, return_std=True)[1]) / std_exact
        low_rank = {"std_ratio_median": round(float(np.median(ratio)), 4),
                    "std_ratio_min": round(float(ratio.min()), 4),
                    "std_ratio_q95": round(float(np.quantile(ratio, 0.95)), 4)}
    record = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "seed": args.seed, **environment_info(), "settings": settings,
        "n_fit": int(len(y)), "n_support_after_condition": model.n_support,
        "phi_active": model.fit_info()["phi_active"],
        "fit_s": round(fit_s, 2), "gp_baseline_fit_s": round(gp_fit_s, 2),
        "condition_s": round(cond_s, 3),
        "first_predict_after_condition_s": round(first_s, 3),
        "peak_rss_gb": round(_peak_rss_gb(), 2),
        "predict_per_s_all_threads": round(args.candidates / pred_s, 1),
        "predict_per_s_1_thread": round(args.candidates / pred1_s, 1),
        "gp_baseline_predict_per_s": round(args.candidates / gp_pred_s, 1),
        "targets": {"fit_s": 120.0, "condition_s": 1.0},
        "inducing": approx,
        "low_rank_variance_vs_exact": low_rank,
    }
    print(f"fit {args.rows} rows: {fit_s:.1f} s (GP baseline {gp_fit_s:.1f} s; target 120 s)")
    print(f"condition to {model.n_support} support rows: {cond_s:.3f} s (target 1 s); "
          f"first prediction after it {first_s:.2f} s (index and variance factor built)")
    print(f"predict mean+std+distance at {model.n_support} rows: "
          f"{args.candidates / pred1_s:,.0f}/s on 1 thread, {args.candidates / pred_s:,.0f}/s "
          f"on {threads} (GP baseline {args.candidates / gp_pred_s:,.0f}/s)")
    if low_rank is not None:
        print(f"rank-256 variance factor vs exact variances: std ratio median "
              f"{low_rank['std_ratio_median']:.3f}, min {low_rank['std_ratio_min']:.3f}")
    for row in approx:
        print(f"inducing {row['inducing_rows']:,} of {row['n_support']:,} rows: build "
              f"{row['build_s']:.1f} s, {row['predict_per_s_1_thread']:,.0f}/s on 1 thread; "
              f"vs exact: mean RMSE {row['mean_rmse_over_std']:.3f} of the means' std, "
              f"std ratio median {row['std_ratio_median']:.3f} "
              f"(5-95% {row['std_ratio_q05']:.3f}-{row['std_ratio_q95']:.3f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
