"""Plot which domains each strategy measured per round, from a bench_discovery JSON.

One panel per strategy (one seed of one PI1070 task): rows are polymer classes, columns
rounds, each cell the number of that round's picks from that class. Classes holding a
target (top-1%) polymer are marked ``*``; classes of the initial data ``(init)``.

Usage::

    E2T_DATA_DIR=../shared/data python scripts/plot_domain_rounds.py \\
        scripts/results/bench_discovery_domain_small.json --out docs/domain_bayes_rounds.png

Prints the per-round counts and writes the PNG.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from e2t_discovery.data import datasets

PROPERTIES = {"pi1070-tc": "thermal_conductivity", "pi1070-cp": "Cp"}


def task_domains(task: str) -> np.ndarray:
    """Domain label of every position of a PI1070 task (as ``bench_discovery`` builds it)."""
    df = datasets.load_pi1070(datasets.find_data_dir(None))
    df = df[df[PROPERTIES[task]].notna()].reset_index(drop=True)
    return df["polymer_class"].astype(str).to_numpy()


def counts(run: dict, domains: np.ndarray, batch: int) -> pd.DataFrame:
    """Picks per (domain, round) of one run."""
    order = np.asarray(run["order"], dtype=int)
    frame = pd.DataFrame({"domain": domains[order], "round": np.arange(len(order)) // batch + 1})
    return frame.groupby(["domain", "round"]).size().unstack(fill_value=0)


def main(argv: list[str] | None = None) -> int:
    """Read the runs, print counts, write the figure."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--task", default="pi1070-tc")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strategies", nargs="+", default=["e2t-new-domain", "e2t-domain-bayes"])
    ap.add_argument("--out", type=Path, default=Path("docs/domain_bayes_rounds.png"))
    args = ap.parse_args(argv)
    data = json.loads(args.results.read_text())
    info = data["tasks"][args.task]
    domains = task_domains(args.task)
    targets = set(info["target_domains"])
    init = set(info["source_domains"])
    runs = {r["strategy"]: r for r in data["runs"]
            if r["task"] == args.task and r["seed"] == args.seed}
    tables = {s: counts(runs[s], domains, info["batch"]) for s in args.strategies if s in runs}
    rows = sorted(set().union(*(t.index for t in tables.values())),
                  key=lambda d: (d not in targets, d not in init, d))
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(4.6 * len(tables), 0.32 * len(rows) + 1.6),
                             dpi=110, squeeze=False, sharey=True)
    hit_ids = set(info["targets"])
    for ax, (name, table) in zip(axes[0], tables.items(), strict=True):
        table = table.reindex(rows, fill_value=0)
        ax.imshow(table.to_numpy(), cmap="Blues", aspect="auto", vmin=0, vmax=info["batch"])
        for (i, j), v in np.ndenumerate(table.to_numpy()):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
        run = runs[name]
        hit = run["first_hit"]
        ax.set_title(f"{name} (seed {args.seed}): first hit "
                     f"{'never' if hit is None else hit}, found {run['found']:.2f}", fontsize=8)
        ax.set_xticks(range(table.shape[1]), table.columns)
        ax.set_xlabel("round")
        print(f"{name}: targets measured {len(hit_ids & set(run['order']))}")
        print(table.to_string())
    axes[0][0].set_yticks(range(len(rows)),
                          [f"{d}{' *' if d in targets else ''}{' (init)' if d in init else ''}"
                           for d in rows], fontsize=7)
    axes[0][0].set_ylabel("polymer class (* holds a target)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    plt.close(fig)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
