"""Plot which domains each strategy measured per round, from a bench_discovery JSON.

One panel per strategy and seed of one PI1070 task: rows are polymer classes, columns
rounds, each cell the number of that round's picks from that class. Classes holding a
target (top-1%) polymer are marked ``*``; classes of the initial data ``(init)``.

Usage::

    E2T_DATA_DIR=../shared/data python scripts/plot_domain_rounds.py \\
        scripts/results/bench_discovery_domain_small.json --seeds 0 1 2 \\
        --out docs/domain_bayes_rounds.png

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
    """Read the runs, print counts, write the figure (strategies x seeds panels)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--task", default="pi1070-tc")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--strategies", nargs="+", default=["e2t-new-domain", "e2t-domain-bayes"])
    ap.add_argument("--out", type=Path, default=Path("docs/domain_bayes_rounds.png"))
    args = ap.parse_args(argv)
    data = json.loads(args.results.read_text())
    info = data["tasks"][args.task]
    domains = task_domains(args.task)
    targets, init = set(info["target_domains"]), set(info["source_domains"])
    runs = {(r["strategy"], r["seed"]): r for r in data["runs"] if r["task"] == args.task}
    keys = [(s, k) for s in args.strategies for k in args.seeds if (s, k) in runs]
    tables = {key: counts(runs[key], domains, info["batch"]) for key in keys}
    rows = sorted(set().union(*(t.index for t in tables.values())),
                  key=lambda d: (d not in targets, d not in init, d))
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(args.strategies), len(args.seeds)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.6 * n_cols, n_rows * (0.26 * len(rows)
                             + 1.2)), dpi=110, squeeze=False, sharey=True)
    for ax in axes.flat:
        ax.set_visible(False)
    for (name, seed), table in tables.items():
        ax = axes[args.strategies.index(name)][args.seeds.index(seed)]
        ax.set_visible(True)
        table = table.reindex(rows, fill_value=0)
        ax.imshow(table.to_numpy(), cmap="Blues", aspect="auto", vmin=0, vmax=info["batch"])
        for (i, j), v in np.ndenumerate(table.to_numpy()):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=6)
        run = runs[(name, seed)]
        hit = run["first_hit"]
        ax.set_title(f"{name}, seed {seed}: first hit {'never' if hit is None else hit}, "
                     f"found {run['found']:.2f}", fontsize=7)
        ax.set_xticks(range(table.shape[1]), table.columns, fontsize=7)
        ax.set_xlabel("round", fontsize=7)
        ax.set_yticks(range(len(rows)),
                      [f"{d}{' *' if d in targets else ''}{' (init)' if d in init else ''}"
                       for d in rows], fontsize=6)
        print(f"{name} seed {seed}:\n{table.to_string()}")
    fig.supylabel("polymer class (* holds a target; (init): in the initial data)", fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    plt.close(fig)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
