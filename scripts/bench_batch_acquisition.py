"""Time batch acquisition on a long shortlist: domain-bayes, thompson and qlognei.

A fingerprint-preset E2T surrogate (GP head) is fitted on ``--train`` PI1070 rows
(thermal conductivity); the candidates are ``--candidates`` unique polymers generated
from PI1070 repeat units (substitution and recombination, in process), featurized with
Morgan counts. Each strategy chooses a batch of ``--q`` with its shortlist set to all the
candidates. Also timed: the joint posterior over the shortlist (``model.posterior``,
a dense ``n x n`` covariance), drawing from it by eigendecomposition (``thompson``), and
the landmark draws ``domain-bayes`` uses on long shortlists instead (posterior calls
included: no ``n x n`` covariance).

Usage::

    E2T_DATA_DIR=../shared/data nice -n 10 python scripts/bench_batch_acquisition.py

Prints a table and writes ``scripts/results/bench_batch_acquisition.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from e2t_discovery import strategies
from e2t_discovery.data import datasets
from e2t_discovery.data.repeat_units import generate_chunk, prepare_seeds
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.model import E2TSurrogate
from e2t_discovery.model.presets import preset
from e2t_discovery.strategies.domain_bayes import landmark_draws
from e2t_discovery.strategies.thompson import sample_joint

RESULTS = Path(__file__).resolve().parent / "results"


def library(pi: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` unique generated polymers (``smiles``, ``domain``) from PI1070's repeat units."""
    smiles, domains, parents = prepare_seeds(pi["smiles"].tolist(),
                                             pi["polymer_class"].astype(str).tolist(),
                                             pi["id"].astype(str).tolist())
    out, dom, _, _ = generate_chunk(smiles, domains, parents, 2 * n, seed)
    frame = pd.DataFrame({"smiles": out, "domain": dom}).drop_duplicates("smiles")
    return frame.head(n).reset_index(drop=True)


def timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Fit, generate, time; print a table and write JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=200)
    ap.add_argument("--candidates", type=int, default=3000)
    ap.add_argument("--q", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strategies", nargs="+", default=["domain-bayes", "thompson", "qlognei"])
    ap.add_argument("--qlognei-shortlist", type=int, default=3000,
                    help="qlognei's shortlist (its cost grows with it times q)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_batch_acquisition.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    pi = datasets.load_pi1070(datasets.find_data_dir(None)).dropna(
        subset=["thermal_conductivity"]).reset_index(drop=True)
    train = pi.sample(args.train, random_state=args.seed)
    featurizer = get_featurizer("polymer")
    X = featurizer.transform(train["smiles"].tolist())
    y = train["thermal_conductivity"].to_numpy(float)
    model, fit_s = timed(lambda: E2TSurrogate(**preset("fingerprint"), seed=args.seed).fit(
        X, y, train["polymer_class"].astype(str).to_numpy(), progress=False))
    lib, gen_s = timed(lambda: library(pi, args.candidates, args.seed))
    P, feat_s = timed(lambda: featurizer.transform(lib["smiles"].tolist()))
    (mean, std), pred_s = timed(lambda: model.predict(P, return_std=True))
    frame = pd.DataFrame({"id": [f"g{i}" for i in range(len(lib))], "mean": mean, "std": std,
                          "domain": lib["domain"].to_numpy(),
                          "acquisition": mean + 2.0 * std})
    measured = pd.DataFrame({"id": train["id"].astype(str).to_numpy(),
                             "domain": train["polymer_class"].astype(str).to_numpy(),
                             "value": y})
    n = len(frame)
    rows: list[dict[str, Any]] = []
    meta = {
        "command": " ".join(["scripts/bench_batch_acquisition.py", *(argv or sys.argv[1:])]),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch_threads": args.threads, "load_avg": os.getloadavg()},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "candidates": n, "fit_seconds": fit_s, "generate_seconds": gen_s,
        "featurize_seconds": feat_s, "predict_seconds": pred_s, "rows": rows,
    }

    def record(row: dict[str, Any]) -> None:  # written after every step: a cut run reports
        rows.append(row)
        print(f"{row['step']:50} {row['seconds']:8.2f}", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(meta, indent=1, default=float))

    (pm, pc), post_s = timed(lambda: model.posterior(P))
    record({"step": f"posterior over {n} (mean + dense n x n cov)", "seconds": post_s})
    rng = np.random.default_rng(args.seed)
    _, eig_s = timed(lambda: sample_joint(pm, pc, 512, rng))
    record({"step": "512 draws: eigh of n x n", "seconds": eig_s})
    _, low_s = timed(lambda: landmark_draws(model.posterior, P, 512, 256, rng))
    record({"step": "512 draws: 256 landmarks (posterior included)", "seconds": low_s})
    for name in args.strategies:
        k = args.qlognei_shortlist if name == "qlognei" else n
        strat = strategies.get(name, shortlist=k)
        out, secs = timed(lambda s=strat: s.select(
            frame, args.q, model=model, features=P, measured=measured,
            measured_features=X, rng=args.seed))
        record({"step": f"{name} q={args.q} over {k}", "seconds": secs,
                "domains_picked": out["domain"].value_counts().to_dict()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
