#!/usr/bin/env python
"""Choose E2T settings on validation domains inside the training data only.

PI1070: the benchmark's test classes are the nine classes with >= 40 polymers; the
validation domains here are the *other* classes (5, 6, 8, 11, 12, 16, 20, 21, ...), each
scored as an unseen class while the model trains on the nine benchmark classes pooled.
HOIP: inner leave-one-domain-out on the training domains of a split (the test domain is
never loaded into the scoring).

Example:
    E2T_DATA_DIR=../shared/data python scripts/select_e2t.py --dataset pi1070 \
        --properties Cp,thermal_conductivity --out scripts/results/select_pi1070.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

CANDIDATES: dict[str, dict[str, Any]] = {
    "paper_mlp": {"input_transform": "log1p", "steps": 500, "lr": 1.5e-3},
    "kernel512": {"input_transform": "log1p", "steps": 500, "lr": 1.5e-3,
                  "kernel_dim": 512, "kernel": "tanimoto"},
    "kernel512_nolin": {"input_transform": "log1p", "steps": 500, "lr": 1.5e-3,
                        "kernel_dim": 512, "kernel": "tanimoto", "linear_dim": 0},
    "k512_nolin_long": {"input_transform": "log1p", "steps": 1500, "lr": 1.5e-3,
                        "kernel_dim": 512, "kernel": "tanimoto", "linear_dim": 0,
                        "patience": 20},
    "k512_nolin_small": {"input_transform": "log1p", "steps": 500, "lr": 1.5e-3,
                         "kernel_dim": 512, "kernel": "tanimoto", "linear_dim": 0,
                         "hidden": [64, 64], "embed_dim": 8},
    "k512_nolin_ens3": {"input_transform": "log1p", "steps": 500, "lr": 1.5e-3,
                        "kernel_dim": 512, "kernel": "tanimoto", "linear_dim": 0,
                        "ensemble": 3},
    "k512_raw": {"input_transform": "none", "steps": 500, "lr": 1.5e-3,
                 "kernel_dim": 512, "kernel": "tanimoto", "linear_dim": 0},
    "k512_tiny_mlp": {"input_transform": "log1p", "steps": 500, "lr": 1.5e-3,
                      "kernel_dim": 512, "kernel": "tanimoto", "linear_dim": 0,
                      "hidden": [8], "embed_dim": 1},
}


_C_MLP: dict[str, Any] = {
    "encoder": "mlp", "hidden": [64, 64], "embed_dim": 16, "dropout": 0.1, "layer_norm": False,
    "linear_dim": 94, "head": "ridge", "ridge_lambda": 1.0, "loss": "mse", "val_fraction": 0.0,
    "n_support": 256, "n_query": 64, "steps": 1000, "lr": 1e-3, "weight_decay": 1e-4,
}
HOIP_CANDIDATES: dict[str, dict[str, Any]] = {
    "mlp_linear": _C_MLP,
    "mlp_linear_rbf256": {**_C_MLP, "kernel": "rbf", "kernel_dim": 256},
    "mlp_rbf256": {**_C_MLP, "kernel": "rbf", "kernel_dim": 256, "linear_dim": 0},
    "mlp_linear_rbf256_bayes": {**_C_MLP, "kernel": "rbf", "kernel_dim": 256, "head": "bayes",
                                "loss": "nll", "val_fraction": 0.2},
    "mlp_rbf512": {**_C_MLP, "kernel": "rbf", "kernel_dim": 512, "linear_dim": 0},
    "mlp_rbf256_bayes": {**_C_MLP, "kernel": "rbf", "kernel_dim": 256, "linear_dim": 0,
                         "head": "bayes", "loss": "nll", "val_fraction": 0.2},
    "mlp_rbf256_wide": {**_C_MLP, "kernel": "rbf", "kernel_dim": 256, "linear_dim": 0,
                        "hidden": [128, 128], "dropout": 0.2},
    "graph": {"encoder": "graph", "steps": 300, "n_support": 128, "n_query": 32, "loss": "mse",
              "graph_params": {"hidden": 32, "n_conv": 2, "linear_path": "identity"}},
}


def _hoip(args: argparse.Namespace) -> dict[str, Any]:
    """Inner leave-one-domain-out on the ten domains that are neither GeF nor PbI."""
    from e2t_discovery.data.datasets import hoip_domains, load_hoip
    from e2t_discovery.featurize import get_featurizer
    from e2t_discovery.model import E2TSurrogate
    from e2t_discovery.model.baselines import make_baseline

    frame = load_hoip()
    featurizer = get_featurizer("structure", rdf_bins=0, cache_dir=args.cache_dir)
    items = frame["cif_path"].tolist()
    inputs = {"X": featurizer.transform(items)}
    y = frame["band_gap_gga"].to_numpy(dtype=float)
    groups = np.asarray(hoip_domains(frame))
    inner = [g for g in np.unique(groups) if g not in ("Ge-F", "Pb-I")]
    pool = np.flatnonzero(np.isin(groups, inner))
    names = args.candidates.split(",")
    if any(HOIP_CANDIDATES[n]["encoder"] == "graph" for n in names):
        inputs["graphs"] = featurizer.graphs(items)
    results: dict[str, Any] = {}
    for name in ["ridge", *names]:
        per = {}
        for dom in inner:
            tr = pool[groups[pool] != dom]
            te = pool[groups[pool] == dom]
            t = time.time()
            if name == "ridge":
                model: Any = make_baseline("ridge")
                X = inputs["X"]
            else:
                cfg = HOIP_CANDIDATES[name]
                model = E2TSurrogate(**cfg, device="cpu", seed=0)
                X = inputs["graphs" if cfg["encoder"] == "graph" else "X"]
            Xtr = [X[i] for i in tr] if isinstance(X, list) else X[tr]
            Xte = [X[i] for i in te] if isinstance(X, list) else X[te]
            if name == "ridge":
                model.fit(Xtr, y[tr], groups[tr])
            else:
                model.fit(Xtr, y[tr], groups[tr], progress=False)
            mean = model.predict(Xte)
            resid = float(np.sum((mean - y[te]) ** 2))
            per[dom] = {"r2": 1 - resid / float(np.sum((y[te] - y[te].mean()) ** 2)),
                        "rmse": float(np.sqrt(resid / te.size)),
                        "seconds": round(time.time() - t, 1)}
            print(name, dom, per[dom], flush=True)
        results[name] = {"r2_mean": float(np.mean([v["r2"] for v in per.values()])),
                         "rmse_mean": float(np.mean([v["rmse"] for v in per.values()])),
                         "domains": per}
        print(name, "MEAN", results[name]["r2_mean"], results[name]["rmse_mean"], flush=True)
    return results


def _score(model: Any, X: np.ndarray, y: np.ndarray, groups: np.ndarray, train: np.ndarray,
           test: np.ndarray) -> dict[str, float]:
    from e2t_discovery.model import E2TSurrogate
    from e2t_discovery.model.benchmark import regression_metrics

    quiet = {"progress": False} if isinstance(model, E2TSurrogate) else {}
    model.fit(X[train], y[train], groups[train], **quiet)
    mean, std = model.predict(X[test], return_std=True)
    out = {}
    for g in np.unique(groups[test]):
        sel = groups[test] == g
        out[str(g)] = float(np.sqrt(np.mean((mean[sel] - y[test][sel]) ** 2)))
    m = regression_metrics(y[test], mean, std)
    return {"rmse": m["rmse"], "r2": m["r2"], "coverage90": m.get("coverage90", float("nan")),
            "per_domain_rmse": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("pi1070", "hoip"), default="pi1070")
    parser.add_argument("--cache-dir", default=None, help="structure feature cache (HOIP)")
    parser.add_argument("--properties", default="Cp,thermal_conductivity")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.dataset == "hoip":
        record = {"command": " ".join(sys.argv), "protocol": "inner leave-one-domain-out on "
                  "the ten HOIP domains other than Ge-F and Pb-I", "results": _hoip(args)}
        args.out.write_text(json.dumps(record, indent=1))
        return 0
    from e2t_discovery.data.datasets import load_pi1070
    from e2t_discovery.featurize import get_featurizer
    from e2t_discovery.model import E2TSurrogate
    from e2t_discovery.model.baselines import make_baseline

    frame = load_pi1070()
    bench = {13, 3, 2, 4, 1, 7, 9, 10, 15}
    record: dict[str, Any] = {"command": " ".join(sys.argv), "protocol":
                              "train on the nine benchmark classes, score on the other classes",
                              "results": {}}
    for prop in args.properties.split(","):
        sub = frame[frame[prop].notna()].reset_index(drop=True)
        X = get_featurizer("polymer").transform(sub["smiles"].tolist())
        y = sub[prop].to_numpy(dtype=float)
        groups = sub["polymer_class"].to_numpy()
        train = np.flatnonzero(np.isin(groups, list(bench)))
        val = np.flatnonzero(~np.isin(groups, list(bench)))
        res: dict[str, Any] = {"val_std": float(y[val].std()), "n_val": int(val.size)}
        t = time.time()
        res["gp_minmax"] = _score(make_baseline("gp", kernel="minmax"), X, y, groups, train, val)
        res["gp_minmax"]["seconds"] = round(time.time() - t, 1)
        print(prop, "gp", {k: v for k, v in res["gp_minmax"].items() if k != "per_domain_rmse"},
              flush=True)
        for name in args.candidates.split(","):
            runs = []
            for seed in range(args.seeds):
                t = time.time()
                r = _score(E2TSurrogate(**CANDIDATES[name], device="cpu", seed=seed),
                           X, y, groups, train, val)
                r["seconds"] = round(time.time() - t, 1)
                runs.append(r)
                print(prop, name, seed, {k: v for k, v in r.items() if k != "per_domain_rmse"},
                      flush=True)
            res[name] = {"rmse_mean": float(np.mean([r["rmse"] for r in runs])),
                         "r2_mean": float(np.mean([r["r2"] for r in runs])), "runs": runs}
        record["results"][prop] = res
        args.out.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
