#!/usr/bin/env python
"""Training-side evidence for the GP-head presets: what the gate sees on held-out domains.

For each PI1070 benchmark cell (test class held out entirely) and each candidate setting,
fit the GP-head E2T on the *training* classes only and print its gate history: the
held-out-training-class score of every evaluated state divided by that of step 0 (the
marginal-likelihood GP). Values below 1 mean episodic training helped on held-out
training classes. Nothing here looks at a test class.

Example:
    E2T_DATA_DIR=../shared/data python scripts/select_gp_head.py \
        --cells 13:thermal_conductivity,3:density,4:Cp --out scripts/results/select_gp_head.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from e2t_discovery.model.presets import PRESETS

#: Candidate settings (changes to the `fingerprint` preset).
CANDIDATES: dict[str, dict[str, Any]] = {
    "preset": {},
    "phi_linear": {"phi_kernel": "linear"},
    "train_base": {"train_base": True},
    "nll_loss": {"loss": "nll", "select_on": "nll"},
    "dropout": {"dropout": 0.2, "phi_scale": 0.05},
}


def main(argv: list[str] | None = None) -> int:
    """Run the selection; return the exit code."""
    import torch

    from e2t_discovery.data.datasets import load_pi1070, pi1070_class_splits
    from e2t_discovery.featurize import get_featurizer
    from e2t_discovery.model import E2TSurrogate
    from e2t_discovery.model.benchmark import environment_info

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="13:thermal_conductivity,3:density,4:Cp")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    frame0 = load_pi1070()
    record: dict[str, Any] = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                              "seed": args.seed, **environment_info(), "runs": []}
    for cell in args.cells.split(","):
        cls, prop = cell.split(":")
        frame = frame0[frame0[prop].notna()].reset_index(drop=True)
        X = get_featurizer("polymer").transform(frame["smiles"].tolist())
        y = frame[prop].to_numpy(dtype=float)
        groups = frame["polymer_class"].to_numpy()
        train, _ = pi1070_class_splits(frame)[int(cls)]
        for name in args.candidates.split(","):
            settings = {**PRESETS["fingerprint"], **CANDIDATES[name], "device": "cpu",
                        "seed": args.seed}
            start = time.time()
            model = E2TSurrogate(**settings).fit(X[train], y[train], groups[train],
                                                 progress=False)
            ref = model.history[0]["val"]
            ratios = [round(h["val"] / ref, 3) for h in model.history]
            run = {"class": int(cls), "target": prop, "candidate": name,
                   "settings": CANDIDATES[name], "val_over_step0": ratios,
                   "best_ratio": min(ratios), "phi_active": model.fit_info()["phi_active"],
                   "seconds": round(time.time() - start, 1)}
            record["runs"].append(run)
            print(f"class {cls:>2} {prop:22s} {name:11s} best {min(ratios):.3f}  "
                  f"on {run['phi_active']:.0f}  {ratios}", flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
