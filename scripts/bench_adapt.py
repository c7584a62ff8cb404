"""Few-shot adaptation benchmark on HOIP-GeF and HOIP-PbI (the E2T paper's protocol).

For each split and seed: the target domain (Ge+F or Pb+I compounds) is halved at random;
one half is the pool of target samples, the other half is held out for evaluation. A
surrogate is meta-trained on the source domains only; then, for k in {0, 10, 20, 30, 40}
target samples drawn from the pool, the held-out RMSE of:

- ``adapt``: the source model few-shot fine-tuned on the k samples (``E2TSurrogate.adapt``);
- ``condition``: the source model with the k samples added to its head (no gradient step);
- ``scratch``: a model trained from scratch on source + k target samples;
- ``oracle``: a model trained on source + the whole target pool (independent of k).

Wall time of every adaptation is recorded. Separately, the timing targets are measured
on a 2,000-measurement campaign (PI1070 polymers; see ``timing`` in the JSON): condition
on a batch of 10 new measurements, and one few-shot fine-tune.

Usage::

    E2T_DATA_DIR=../shared/data nice -n 10 python scripts/bench_adapt.py --seeds 3

Prints a table and writes ``scripts/results/bench_adapt.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from e2t_discovery.data import datasets, files
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.model import E2TSurrogate

RESULTS = Path(__file__).resolve().parent / "results"
FEATURE_CACHE = Path.home() / ".cache" / "e2t-discovery" / "features"


def hoip_features(data_dir: Path | None) -> tuple[np.ndarray, np.ndarray, object]:
    """Return HOIP structure descriptors ``n x d``, band gaps ``(n,)`` and the frame."""
    df = datasets.load_hoip(data_dir)
    feat = get_featurizer("structure", cache_dir=FEATURE_CACHE, progress=False)
    X = feat.transform(df["cif_path"].tolist())
    return X, df["band_gap_gga"].to_numpy(dtype=float), df


def rmse(model: E2TSurrogate, X: np.ndarray, y: np.ndarray) -> float:
    """Root-mean-square error of the model's mean on ``X``."""
    return float(np.sqrt(np.mean((np.asarray(model.predict(X)) - y) ** 2)))


def run_split(X: np.ndarray, y: np.ndarray, domains: np.ndarray, train: np.ndarray,
              test: np.ndarray, seed: int, samples: list[int], model_kw: dict,
              adapt_steps: int, adapt_lr: float) -> list[dict]:
    """Run every method for one split and seed; return one record per (method, k)."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(test)
    pool, held = perm[: len(perm) // 2], perm[len(perm) // 2:]
    records: list[dict] = []

    def fit(rows: np.ndarray) -> tuple[E2TSurrogate, float]:
        t0 = time.perf_counter()
        m = E2TSurrogate(seed=seed, **model_kw).fit(X[rows], y[rows], domains[rows],
                                                    progress=False)
        return m, time.perf_counter() - t0

    source, t_source = fit(train)
    oracle, t_oracle = fit(np.concatenate([train, pool]))
    oracle_rmse = rmse(oracle, X[held], y[held])
    for k in samples:
        shots = pool[:k]
        row = {"seed": seed, "k": k}
        if k == 0:
            base = rmse(source, X[held], y[held])
            for method in ("adapt", "condition", "scratch"):
                records.append({**row, "method": method, "rmse": base, "seconds": 0.0})
        else:
            m = copy.deepcopy(source)
            t0 = time.perf_counter()
            m.adapt(X[shots], y[shots], domains[shots], steps=adapt_steps, lr=adapt_lr)
            records.append({**row, "method": "adapt", "rmse": rmse(m, X[held], y[held]),
                            "seconds": time.perf_counter() - t0})
            m = copy.deepcopy(source)
            t0 = time.perf_counter()
            m.condition(X[shots], y[shots])
            records.append({**row, "method": "condition", "rmse": rmse(m, X[held], y[held]),
                            "seconds": time.perf_counter() - t0})
            m, t_fit = fit(np.concatenate([train, shots]))
            records.append({**row, "method": "scratch", "rmse": rmse(m, X[held], y[held]),
                            "seconds": t_fit})
        records.append({**row, "method": "oracle", "rmse": oracle_rmse, "seconds": t_oracle})
    records.append({"seed": seed, "k": -1, "method": "source_fit", "rmse": float("nan"),
                    "seconds": t_source})
    return records


def timing_2k(data_dir: Path | None, model_kw: dict, adapt_steps: int,
              adapt_lr: float) -> dict:
    """Time condition and fine-tune on a 2,000-measurement polymer campaign.

    PI1070 holds 1,077 polymers; the campaign's measurements are the thermal conductivity
    of all of them plus 923 replicate measurements (resampled rows with 2% noise), which is
    what the head and the fine-tuning episodes see in a 2k-measurement campaign.
    """
    df = datasets.load_pi1070(data_dir)
    df = df[df["thermal_conductivity"].notna()].reset_index(drop=True)
    X = get_featurizer("polymer").transform(df["smiles"].tolist())
    y = df["thermal_conductivity"].to_numpy(dtype=float)
    g = df["polymer_class"].astype(str).to_numpy()
    rng = np.random.default_rng(0)
    extra = rng.choice(len(y), 2000 - len(y) - 10, replace=True)
    Xc = np.concatenate([X, X[extra]])
    yc = np.concatenate([y, y[extra] * (1 + 0.02 * rng.standard_normal(len(extra)))])
    gc = np.concatenate([g, g[extra]])
    new = rng.choice(len(y), 10, replace=False)
    t0 = time.perf_counter()
    model = E2TSurrogate(seed=0, **model_kw).fit(Xc, yc, gc, progress=False)
    fit_s = time.perf_counter() - t0
    m = copy.deepcopy(model)
    t0 = time.perf_counter()
    m.condition(X[new], y[new])
    cond_s = time.perf_counter() - t0
    m = copy.deepcopy(model)
    t0 = time.perf_counter()
    m.adapt(X[new], y[new], g[new], steps=adapt_steps, lr=adapt_lr)
    adapt_s = time.perf_counter() - t0
    return {"n_measurements": int(len(yc) + 10), "fit_seconds": fit_s,
            "condition_seconds": cond_s, "finetune_seconds": adapt_s,
            "finetune_steps": adapt_steps}


def summarize(records: list[dict]) -> dict:
    """Mean and std of RMSE and seconds per (split, method, k)."""
    out: dict = {}
    for r in records:
        if r["k"] < 0:
            continue
        key = f"{r['split']}/{r['method']}/{r['k']}"
        out.setdefault(key, {"rmse": [], "seconds": []})
        out[key]["rmse"].append(r["rmse"])
        out[key]["seconds"].append(r["seconds"])
    return {k: {"rmse_mean": float(np.mean(v["rmse"])), "rmse_std": float(np.std(v["rmse"])),
                "seconds_mean": float(np.mean(v["seconds"])), "n": len(v["rmse"])}
            for k, v in out.items()}


def plot(result: dict, path: Path) -> None:
    """RMSE vs. target samples per split: mean ± std over seeds for each method."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    summary = result["summary"]
    splits = sorted({k.split("/")[0] for k in summary})
    fig, axes = plt.subplots(1, len(splits), figsize=(5.2 * len(splits), 4.0), dpi=110,
                             squeeze=False)
    for ax, split in zip(axes[0], splits, strict=True):
        for k, method in enumerate(("adapt", "condition", "scratch", "oracle")):
            cells = sorted(((int(key.split("/")[2]), v) for key, v in summary.items()
                            if key.startswith(f"{split}/{method}/")), key=lambda t: t[0])
            if not cells:
                continue
            x = np.array([c[0] for c in cells])
            m = np.array([c[1]["rmse_mean"] for c in cells])
            sd = np.array([c[1]["rmse_std"] for c in cells])
            style = "--" if method == "oracle" else "-"
            ax.plot(x, m, style, marker="o", ms=4, color=f"C{k}", label=method)
            ax.fill_between(x, m - sd, m + sd, color=f"C{k}", alpha=0.12)
        ax.set_title(f"HOIP-{split.upper()} ({len(result['seeds'])} seeds)")
        ax.set_xlabel("target-domain samples")
        ax.set_ylabel("held-out RMSE (eV)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table and write JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--samples", type=int, nargs="+", default=[0, 10, 20, 30, 40])
    ap.add_argument("--splits", nargs="+", default=["gef", "pbi"])
    ap.add_argument("--steps", type=int, default=600, help="meta-training steps")
    ap.add_argument("--ensemble", type=int, default=1)
    ap.add_argument("--adapt-steps", type=int, default=100)
    ap.add_argument("--adapt-lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_adapt.json")
    ap.add_argument("--plot-only", action="store_true",
                    help="only redraw the PNG from an existing JSON")
    args = ap.parse_args(argv)
    if args.plot_only:
        plot(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
        return 0
    torch.set_num_threads(args.threads)
    data_dir = files.find_data_dir(None)
    model_kw = {"steps": args.steps, "ensemble": args.ensemble}
    X, y, df = hoip_features(data_dir)
    domains = datasets.hoip_domains(df)
    records: list[dict] = []
    t_start = time.perf_counter()
    for split in args.splits:
        train, test = datasets.hoip_split(df, split)
        for seed in range(args.seeds):
            for r in run_split(X, y, domains, train, test, seed, args.samples, model_kw,
                               args.adapt_steps, args.adapt_lr):
                records.append({"split": split, **r})
            print(f"[{time.perf_counter() - t_start:7.0f}s] {split} seed {seed} done",
                  file=sys.stderr, flush=True)
    summary = summarize(records)
    timing = None if args.skip_timing else timing_2k(data_dir, model_kw, args.adapt_steps,
                                                     args.adapt_lr)
    print(f"{'split':5} {'method':10} " + " ".join(f"k={k:<9}" for k in args.samples))
    for split in args.splits:
        for method in ("adapt", "condition", "scratch", "oracle"):
            cells = [summary.get(f"{split}/{method}/{k}") for k in args.samples]
            print(f"{split:5} {method:10} " + " ".join(
                f"{c['rmse_mean']:.3f}±{c['rmse_std']:.3f}" if c else "-" for c in cells))
    if timing:
        print(f"2k campaign: condition {timing['condition_seconds']:.3f} s, fine-tune "
              f"({timing['finetune_steps']} steps) {timing['finetune_seconds']:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch_threads": args.threads},
        "seeds": list(range(args.seeds)), "model": model_kw,
        "adapt": {"steps": args.adapt_steps, "lr": args.adapt_lr},
        "summary": summary, "timing_2k": timing, "records": records,
        "wall_seconds": time.perf_counter() - t_start,
    }, indent=1))
    plot(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
    print(f"wrote {args.out} and its PNG")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
