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
- ``--extra 9000``: the same with 10,000 support rows (the exact-GP scale target).
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
    }
    print(f"fit {args.rows} rows: {fit_s:.1f} s (GP baseline {gp_fit_s:.1f} s; target 120 s)")
    print(f"condition to {model.n_support} support rows: {cond_s:.3f} s (target 1 s); "
          f"first prediction after it {first_s:.2f} s (index and variance factor built)")
    print(f"predict mean+std+distance at {model.n_support} rows: "
          f"{args.candidates / pred1_s:,.0f}/s on 1 thread, {args.candidates / pred_s:,.0f}/s "
          f"on {threads} (GP baseline {args.candidates / gp_pred_s:,.0f}/s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
