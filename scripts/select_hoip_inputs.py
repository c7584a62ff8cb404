#!/usr/bin/env python
"""Choose the HOIP input on training domains only: descriptors, or descriptors + CHGNet.

Inner leave-one-domain-out on the ten HOIP domains other than Ge-F and Pb-I (the two
benchmark test domains are never loaded into fitting or scoring): each of the ten is
predicted by a model fitted on the other nine. Methods: the GP-head E2T (`descriptor`
preset) and, for context, the RBF-ARD GP and ridge, each on both inputs. The input whose
E2T has the lower mean RMSE over the ten folds (and the higher mean R2) is the one the
benchmark's ``e2t`` row may use; nothing here looks at Ge-F or Pb-I.

Example:
    E2T_DATA_DIR=../shared/data python scripts/select_hoip_inputs.py --jobs 2 \
        --out scripts/results/select_hoip_inputs.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

# the benchmark's quiet fit wrapper and feature cache (scripts/ is on sys.path when a
# script in it runs, and in the workers it forks)
from bench_extrapolation import FEATURE_CACHE, _Quiet

TEST_DOMAINS = ("Ge-F", "Pb-I")
INPUTS = {"descriptors": None, "descriptors+chgnet": "chgnet"}


def _fold(args: tuple[str, str, int]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    from e2t_discovery.data.datasets import hoip_domains, load_hoip
    from e2t_discovery.featurize import get_featurizer
    from e2t_discovery.model import E2TSurrogate
    from e2t_discovery.model.baselines import make_baseline
    from e2t_discovery.model.benchmark import Method, evaluate_split
    from e2t_discovery.model.presets import PRESETS

    input_name, held_out, seed = args
    frame = load_hoip()
    groups = hoip_domains(frame)
    keep = ~np.isin(groups, TEST_DOMAINS)
    frame, groups = frame[keep].reset_index(drop=True), groups[keep]
    X = get_featurizer("structure", rdf_bins=0, foundation=INPUTS[input_name],
                       cache_dir=FEATURE_CACHE, progress=False).transform(
                           frame["cif_path"].tolist())
    y = frame["band_gap_gga"].to_numpy(dtype=float)
    test = np.flatnonzero(groups == held_out)
    train = np.flatnonzero(groups != held_out)
    cfg = {**PRESETS["descriptor"], "device": "cpu"}
    methods = {
        "e2t": Method(lambda s: _Quiet(E2TSurrogate(**cfg, seed=s))),
        "gp": Method(lambda s: make_baseline("gp", kernel="rbf"), deterministic=True),
        "ridge": Method(lambda s: make_baseline("ridge"), deterministic=True),
    }
    start = time.time()
    result = evaluate_split(X, y, groups, train, test, methods, [seed])
    return {"input": input_name, "held_out": held_out, "n_train": int(train.size),
            "n_test": int(test.size), "seconds": round(time.time() - start, 1),
            "methods": {n: {k: v for k, v in r.items() if k.endswith("_mean")}
                        for n, r in result.items()}}


def main(argv: list[str] | None = None) -> int:
    """Run the selection; return the exit code."""
    from e2t_discovery.data.datasets import hoip_domains, load_hoip
    from e2t_discovery.model.benchmark import environment_info

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--domains", default=None,
                        help="comma-separated held-out domains (default: all ten)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    domains = sorted(set(hoip_domains(load_hoip())) - set(TEST_DOMAINS))
    if args.domains is not None:
        wanted = args.domains.split(",")
        unknown = sorted(set(wanted) - set(domains))
        if unknown:
            parser.error(f"--domains: unknown {', '.join(unknown)}; known: {', '.join(domains)}")
        domains = wanted
    todo = [(name, d, args.seed) for d in domains for name in INPUTS]
    record: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "seed": args.seed,
        **environment_info(),
        "protocol": "inner leave-one-domain-out on the ten HOIP domains other than "
                    f"{' and '.join(TEST_DOMAINS)}; target band_gap_gga",
        "folds": []}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for fold in pool.map(_fold, todo):
            record["folds"].append(fold)
            m = fold["methods"]
            print(f"{fold['held_out']:6s} {fold['input']:19s} "
                  + "  ".join(f"{n} R2 {v['r2_mean']:6.3f} RMSE {v['rmse_mean']:.4f}"
                              for n, v in m.items()) + f"  ({fold['seconds']} s)", flush=True)
            args.out.write_text(json.dumps(record, indent=1))
    summary: dict[str, Any] = {}
    for name in INPUTS:
        folds = [f for f in record["folds"] if f["input"] == name]
        summary[name] = {method: {metric: float(np.mean([f["methods"][method][metric]
                                                          for f in folds]))
                                  for metric in ("r2_mean", "rmse_mean", "coverage90_mean")}
                         for method in folds[0]["methods"]}
    record["summary"] = summary
    best = min(INPUTS, key=lambda n: summary[n]["e2t"]["rmse_mean"])
    record["chosen"] = best
    print("\nmean over the ten folds:")
    for name, methods in summary.items():
        print(f"  {name:19s} " + "  ".join(
            f"{m} R2 {v['r2_mean']:6.3f} RMSE {v['rmse_mean']:.4f} cov90 "
            f"{v['coverage90_mean']:.2f}" for m, v in methods.items()))
    print(f"E2T input with the lower mean RMSE on training domains: {best}")
    args.out.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
