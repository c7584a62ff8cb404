"""Retrospective discovery benchmark: how fast does each strategy find out-of-domain winners?

Tasks (each starts from labelled data of some domains only; the targets lie in others):

- ``pi1070-tc``: PI1070, maximize thermal_conductivity; targets = top 1% (11 polymers in
  classes 13, 3, 1, 8, 10); the initial data come from the other classes.
- ``pi1070-cp``: PI1070, maximize Cp; targets = top 1% (classes 1 and 3); initial data
  from the other classes.
- ``hoip-pbi``: HOIP, lowest band_gap_gga among the Pb–I compounds; the initial data hold
  no Pb+I compound; candidates are the Pb–I compounds; targets = their lowest 5%
  (1% of 117 would be a single compound).

Strategies, each with the same initial data, budget and batch size per seed: ``random``,
``rf-ucb`` (random forest, UCB), ``gp-ei`` (BoTorch SingleTaskGP, LogEI), ``e2t-ucb``,
``e2t-qlognei``, ``e2t-new-domain`` and ``e2t-domain-bayes`` (E2T surrogate, conditioned
on every batch and fine-tuned when a domain gets its first few measurements). Baselines
are refitted from scratch every round. Everything runs in process
(:func:`e2t_discovery.loop.simulate.run_retrospective`), one thread, no Ray and no store.

Metrics per (task, strategy): measurements to the first target (the fraction of runs that
never hit is reported), the fraction of targets
found within the budget, and both as enhancement factors over random sampling (Rohr et
al. 2020): EF = random's expected measurements to the first target, (N + 1) / (K + 1) for
K targets in a pool of N, divided by the strategy's mean; and fraction found divided by
random's expected fraction, budget / N. A campaign that never hits counts as budget + 1
(which flatters the strategy less than leaving it out). The simulated ``random`` runs are
kept as a check of the closed forms.

Usage::

    E2T_DATA_DIR=../shared/data nice -n 10 python scripts/bench_discovery.py --seeds 10

Prints a table, writes ``scripts/results/bench_discovery.json`` and
``scripts/results/bench_discovery.png`` (best so far vs. measurements, mean and 10–90%
band over seeds). Results are written after every completed seed, so a run cut short
still reports what finished.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from e2t_discovery.data import datasets, files
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.loop.adaptation import AdaptPolicy
from e2t_discovery.loop.simulate import (
    first_hit,
    fraction_found,
    random_first_hit_expectation,
    run_retrospective,
)

RESULTS = Path(__file__).resolve().parent / "results"
FEATURE_CACHE = Path.home() / ".cache" / "e2t-discovery" / "features"
STRATEGIES = ("random", "rf-ucb", "gp-ei", "gp-qlognei", "gp-portfolio", "e2t-ucb",
              "e2t-qlognei", "e2t-new-domain", "e2t-domain-bayes", "e2t-portfolio")
#: Baselines the ``--compare`` strategy is compared with, seed by seed.
GP_BASELINES = ("gp-ei", "gp-qlognei")


@dataclass
class Task:
    """One benchmark task.

    Attributes:
        name: Task name.
        X: ``n x d`` features.
        y: ``(n,)`` goodness (larger is better).
        domains: ``(n,)`` domain labels.
        source: Positions the initial data may be drawn from.
        pool: Positions that may be proposed.
        targets: Positions of the target materials (inside ``pool``).
        n_initial: Size of the initial data.
        budget: Measurements per campaign.
        batch: Batch size.
        sign: +1 to maximize the raw property, -1 to minimize it.
        kind: Representation kind of ``X`` (``polymer`` or ``structure``).
        X_e2t: The E2T strategies' inputs when they differ from ``X`` (``--e2t-radius``).
        e2t_preset: The E2T preset of those inputs (:mod:`e2t_discovery.model.presets`).
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    domains: np.ndarray
    source: np.ndarray
    pool: np.ndarray
    targets: set[int]
    n_initial: int
    budget: int
    batch: int
    sign: float = 1.0
    kind: str = "polymer"
    X_e2t: np.ndarray | None = None
    e2t_preset: str = ""

    def __post_init__(self) -> None:
        self.e2t_preset = self.e2t_preset or KIND_PRESETS[self.kind]

    @property
    def e2t_X(self) -> np.ndarray:
        """The E2T strategies' inputs."""
        return self.X if self.X_e2t is None else self.X_e2t


def _top(values: np.ndarray, positions: np.ndarray, fraction: float) -> set[int]:
    k = max(1, int(round(fraction * len(positions))))
    order = positions[np.argsort(-values[positions], kind="stable")]
    return {int(i) for i in order[:k]}


def pi1070_task(prop: str, data_dir: Path, *, n_initial: int, budget: int,
                batch: int, e2t_radius: list[int] | None = None) -> Task:
    """PI1070: maximize ``prop``; initial data from classes holding no top-1% polymer.

    Every strategy reads radius-3 Morgan counts, except that with ``e2t_radius`` (several
    radii) the E2T strategies read the counts of those radii side by side with the
    ``fingerprint-radii`` preset.
    """
    df = datasets.load_pi1070(data_dir)
    df = df[df[prop].notna()].reset_index(drop=True)
    smiles = df["smiles"].tolist()
    X = get_featurizer("polymer").transform(smiles)
    X_e2t, e2t_preset = None, ""
    if e2t_radius and e2t_radius != [3]:
        X_e2t = get_featurizer("polymer", radius=list(e2t_radius)).transform(smiles)
        e2t_preset = "fingerprint-radii" if len(e2t_radius) > 1 else "fingerprint"
    y = df[prop].to_numpy(dtype=float)
    domains = df["polymer_class"].astype(str).to_numpy()
    everything = np.arange(len(y))
    targets = _top(y, everything, 0.01)
    target_domains = {domains[i] for i in targets}
    source = np.flatnonzero(~np.isin(domains, list(target_domains)))
    return Task(f"pi1070-{'tc' if prop == 'thermal_conductivity' else prop.lower()}", X, y,
                domains, source, everything, targets, n_initial, budget, batch,
                X_e2t=X_e2t, e2t_preset=e2t_preset)


def hoip_task(data_dir: Path, *, n_initial: int, budget: int, batch: int) -> Task:
    """HOIP: lowest band_gap_gga among Pb–I compounds, initial data without Pb+I."""
    df = datasets.load_hoip(data_dir)
    X = get_featurizer("structure", cache_dir=FEATURE_CACHE, progress=False).transform(
        df["cif_path"].tolist())
    y = -df["band_gap_gga"].to_numpy(dtype=float)
    domains = np.asarray(datasets.hoip_domains(df)).astype(str)
    train, test = datasets.hoip_split(df, "pbi")
    return Task("hoip-pbi", X, y, domains, np.asarray(train), np.asarray(test),
                _top(y, np.asarray(test), 0.05), n_initial, budget, batch, sign=-1.0,
                kind="structure")


# --------------------------------------------------------------------------- models


#: E2T preset per representation kind (``--e2t-preset presets``).
KIND_PRESETS = {"polymer": "fingerprint", "structure": "descriptor"}


def e2t_factory(steps: int | None, ensemble: int, seed: int, name: str = "fingerprint",
                preset: str = "presets") -> Callable[[], Any]:
    """Return a constructor of the E2T surrogate sized for this benchmark.

    ``preset="presets"`` takes the settings of preset ``name`` (the task's inputs', from
    :mod:`e2t_discovery.model.presets`); ``"plain"`` the surrogate's defaults. ``steps``
    (if given) overrides the preset's training length.
    """
    from e2t_discovery.model import E2TSurrogate
    from e2t_discovery.model.presets import PRESETS

    settings: dict[str, Any] = dict(PRESETS[name]) if preset == "presets" else {}
    if steps is not None:
        settings["steps"] = steps

    def make() -> Any:
        return _Quiet(E2TSurrogate(**settings, ensemble=ensemble, seed=seed))

    return make


class _Quiet:
    """Wrap a model so ``fit`` runs without a progress bar."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, X: np.ndarray, y: np.ndarray, groups: Any = None) -> _Quiet:
        self.model.fit(X, y, groups, progress=False)
        return self

    def __getattr__(self, name: str) -> Any:
        if name == "model" or name.startswith("__"):  # unset during copy/unpickling
            raise AttributeError(name)
        return getattr(self.model, name)


def baseline_factory(name: str, seed: int, kind: str) -> Callable[[], Any]:
    """Return a constructor of a baseline (``rf`` or ``gp``) from ``model.baselines``.

    The GP uses the MinMax (Tanimoto-type) kernel on count fingerprints and RBF-ARD on
    descriptors, as in the model benchmarks.
    """
    from e2t_discovery.model.baselines import make_baseline

    params: dict[str, Any] = ({"seed": seed} if name == "rf" else
                              {"kernel": "minmax" if kind == "polymer" else "rbf"})

    def make() -> Any:
        return make_baseline(name, **params)

    return make


# --------------------------------------------------------------------------- selectors


def _frame(mean: np.ndarray, std: np.ndarray, domains: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(len(mean)).astype(str), "mean": mean, "std": std,
                         "domain": domains})


def make_selector(strategy: str, beta: float,
                  qlognei_shortlist: int = 200) -> Callable[..., np.ndarray]:
    """Return a :class:`~e2t_discovery.loop.simulate.Selector` backed by ``strategies.get``.

    The selector remembers the reason of each of its picks and hands them back with the
    measured values (columns ``strategy`` and ``reason``), as the campaign loop does from
    its store, so bandit strategies (``portfolio``) see which of their picks paid off.
    """
    from e2t_discovery import strategies

    name = {"random": "random", "rf-ucb": "ucb", "gp-ei": "logei", "gp-qlognei": "qlognei",
            "gp-portfolio": "portfolio", "e2t-ucb": "ucb", "e2t-qlognei": "qlognei",
            "e2t-new-domain": "new-domain", "e2t-domain-bayes": "domain-bayes",
            "e2t-portfolio": "portfolio"}[strategy]
    params: dict[str, Any] = {"beta": beta} if name in ("ucb", "new-domain") else {}
    if name == "qlognei":
        params["shortlist"] = qlognei_shortlist
    reasons: list[str] = []

    def select(model: Any, X_pool: np.ndarray, mean: np.ndarray, std: np.ndarray,
               domains: np.ndarray, measured: pd.DataFrame, q: int,
               rng: np.random.Generator, X_measured: np.ndarray) -> np.ndarray:
        strat = strategies.get(name, **params)
        # the joint posterior of the model (E2T head, or the exact GP) where the strategy
        # uses one; gp-ei stays the analytic EI on marginals a user would run
        joint = strat.uses_model and strategy != "gp-ei"
        unattributed = [None] * (len(measured) - len(reasons))
        seen = measured.assign(strategy=unattributed + [name] * len(reasons),
                               reason=unattributed + reasons)
        chosen = strat.select(
            _frame(mean, std, domains), q,
            model=getattr(model, "model", model) if joint else None,
            features=X_pool if joint else None, measured=seen,
            measured_features=X_measured if joint else None, objective="maximize",
            rng=rng)
        reasons.extend(chosen["reason"].astype(str))
        return chosen["id"].astype(int).to_numpy()

    return select


# --------------------------------------------------------------------------- runner


def initial_data(task: Task, seed: int) -> np.ndarray:
    """Draw the initial data of one seed from the task's source domains."""
    rng = np.random.default_rng(10_000 + seed)
    return np.sort(rng.choice(task.source, size=min(task.n_initial, len(task.source)),
                              replace=False))


def best_curve(task: Task, seed: int, order: list[int]) -> np.ndarray:
    """Best raw value so far after each measurement of a campaign.

    The initial data count when they are candidates themselves (PI1070); when the pool is
    another set of materials (HOIP: the Pb–I compounds), only pool measurements count.
    """
    values = task.y[np.asarray(order, dtype=int)]
    if len(np.intersect1d(task.pool, task.source)):
        values = np.concatenate([[float(np.max(task.y[initial_data(task, seed)]))], values])
        return task.sign * np.maximum.accumulate(values)[1:]
    return task.sign * np.maximum.accumulate(values)


def run_one(task: Task, strategy: str, seed: int, args: argparse.Namespace,
            fitted_e2t: Any | None) -> dict[str, Any]:
    """Run one campaign; return its trace and metrics."""
    init = initial_data(task, seed)
    select = make_selector(strategy, args.beta, args.qlognei_shortlist)
    update, make = "refit", None
    if strategy.startswith("e2t"):
        update = "adapt"
        make = (lambda: copy.deepcopy(fitted_e2t)) if fitted_e2t is not None else \
            e2t_factory(args.steps, args.ensemble, seed, task.e2t_preset,
                        args.e2t_preset)
    elif strategy == "rf-ucb":
        make = baseline_factory("rf", seed, task.kind)
    elif strategy.startswith("gp-"):
        make = baseline_factory("gp", seed, task.kind)
    pool = np.setdiff1d(task.pool, init)
    t0 = time.perf_counter()
    X = task.e2t_X if strategy.startswith("e2t") else task.X
    trace = run_retrospective(
        make, select, X, task.y, task.domains, init, budget=task.budget,
        batch=task.batch, seed=seed, pool=pool, update=update,
        policy=AdaptPolicy(threshold=args.adapt_threshold, steps=args.adapt_steps),
        prefit=fitted_e2t is not None)
    hit = first_hit(trace.order, task.targets)
    return {
        "task": task.name, "strategy": strategy, "seed": seed,
        "first_hit": hit, "found": fraction_found(trace.order, task.targets, task.budget),
        "best_so_far": best_curve(task, seed, trace.order).tolist(),
        "order": trace.order, "batch_rmse": trace.batch_rmse,
        "fine_tunes": trace.fine_tunes, "update_seconds": trace.update_seconds,
        "seconds": time.perf_counter() - t0,
    }


def aggregate(runs: list[dict[str, Any]], tasks: dict[str, Task]) -> list[dict[str, Any]]:
    """Per (task, strategy): mean first hit, fraction found, enhancement factors."""
    rows = []
    frame = pd.DataFrame(runs)
    for (tname, strat), g in frame.groupby(["task", "strategy"], sort=False):
        t = tasks[tname]
        hits = g["first_hit"].astype(float).fillna(t.budget + 1)
        rows.append({"task": tname, "strategy": strat, "seeds": len(g),
                     "first_hit_mean": float(hits.mean()),
                     "first_hit_median": float(hits.median()),
                     "first_hit_p10": float(hits.quantile(0.1)),
                     "first_hit_p90": float(hits.quantile(0.9)),
                     "never_hit": float(g["first_hit"].isna().mean()),
                     "found_mean": float(g["found"].mean()),
                     "seconds_mean": float(g["seconds"].mean())})
    out = pd.DataFrame(rows)
    for tname in out["task"].unique():
        t = tasks[tname]
        idx = out["task"] == tname
        # candidates left after the initial data (drawn from source, a subset of the pool
        # for PI1070, disjoint from it for HOIP)
        in_pool = bool(len(np.intersect1d(t.pool, t.source)))
        n_pool = len(t.pool) - (min(t.n_initial, len(t.source)) if in_pool else 0)
        expected = random_first_hit_expectation(n_pool, len(t.targets))
        out.loc[idx, "random_first_hit_expected"] = expected
        out.loc[idx, "random_found_expected"] = min(1.0, t.budget / n_pool)
        # Rohr et al.: EF = random's (expected) measurements / the strategy's
        out.loc[idx, "ef_first_hit"] = expected / out.loc[idx, "first_hit_mean"]
        out.loc[idx, "ef_found"] = out.loc[idx, "found_mean"] / min(1.0, t.budget / n_pool)
    return out.to_dict("records")


def compare(runs: list[dict[str, Any]], summary: list[dict[str, Any]],
            tasks: dict[str, Task], strategy: str) -> list[dict[str, Any]]:
    """``strategy`` against each GP baseline, seed by seed (same initial data).

    Per task: the enhancement over random (target >= 5), and for each baseline the mean
    and the 10-90% band of the paired difference in measurements to the first hit
    (``strategy`` minus baseline; a campaign that never hits counts ``budget + 1``):
    ``ahead`` when the whole band is below 0, ``behind`` when above, else ``tie``.
    """
    frame = pd.DataFrame(runs)
    out = []
    for tname, task in tasks.items():
        ef = next((r["ef_first_hit"] for r in summary
                   if r["task"] == tname and r["strategy"] == strategy), None)
        mine = frame[(frame["task"] == tname) & (frame["strategy"] == strategy)]
        if ef is None or mine.empty:
            continue
        row: dict[str, Any] = {"task": tname, "strategy": strategy, "ef_first_hit": ef,
                               "ef_target_met": bool(ef >= 5.0)}
        hits = mine.set_index("seed")["first_hit"].astype(float).fillna(task.budget + 1)
        for base in GP_BASELINES:
            other = frame[(frame["task"] == tname) & (frame["strategy"] == base)]
            theirs = other.set_index("seed")["first_hit"].astype(float).fillna(task.budget + 1)
            seeds = hits.index.intersection(theirs.index)
            if not len(seeds):
                continue
            diff = hits[seeds] - theirs[seeds]
            lo, hi = float(diff.quantile(0.1)), float(diff.quantile(0.9))
            row[base] = {"seeds": len(seeds), "mean_difference": float(diff.mean()),
                         "p10": lo, "p90": hi,
                         "verdict": "ahead" if hi < 0 else "behind" if lo > 0 else "tie"}
        out.append(row)
    return out


def plot(runs: list[dict[str, Any]], tasks: dict[str, Task], path: Path,
         banded: tuple[str, ...] = ()) -> None:
    """Best so far vs. measurements per task: mean line per strategy, and the 10–90% band
    for the strategies in ``banded`` (all of them when empty)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    names = [t for t in tasks if any(r["task"] == t for r in runs)]
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.2), dpi=110,
                             squeeze=False)
    for ax, tname in zip(axes[0], names, strict=True):
        task = tasks[tname]
        for k, strat in enumerate(STRATEGIES):
            curves = [r["best_so_far"] for r in runs
                      if r["task"] == tname and r["strategy"] == strat]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            arr = np.array([c[:n] for c in curves])
            x = np.arange(1, n + 1)
            strong = not banded or strat in banded
            ax.plot(x, arr.mean(axis=0), color=f"C{k}", lw=2.2 if strong else 1.0,
                    alpha=1.0 if strong else 0.7, label=f"{strat} ({len(curves)})")
            if not strong:
                continue
            ax.fill_between(x, np.percentile(arr, 10, axis=0), np.percentile(arr, 90, axis=0),
                            color=f"C{k}", alpha=0.12)
        threshold = task.sign * min(task.y[list(task.targets)])
        ax.axhline(threshold, color="k", ls=":", lw=1, label="target threshold")
        ax.set_title(tname)
        ax.set_xlabel("measurements after the initial data")
        ax.set_ylabel("best so far" + (" (lower is better)" if task.sign < 0 else ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table; write JSON and a PNG after every seed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["pi1070-tc", "pi1070-cp", "hoip-pbi"])
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0,
                    help="run seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="combine the runs of these JSON files (same settings) into --out")
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--n-initial", type=int, default=100)
    ap.add_argument("--hoip-budget", type=int, default=40)
    ap.add_argument("--hoip-batch", type=int, default=5)
    ap.add_argument("--beta", type=float, default=2.0)
    ap.add_argument("--steps", type=int, default=None,
                    help="E2T meta-training steps (default: the preset's, else 1000)")
    ap.add_argument("--e2t-preset", choices=("presets", "plain"), default="presets",
                    help="E2T settings: the selected preset of each representation "
                         "(e2t_discovery.model.presets) or the surrogate's defaults")
    ap.add_argument("--e2t-radius", type=int, nargs="+", default=None,
                    help="Morgan radii of the E2T strategies' polymer inputs, e.g. 0 1 2 3 "
                         "(the fingerprint-radii preset); default radius 3, as the "
                         "baselines read")
    ap.add_argument("--ensemble", type=int, default=1)
    ap.add_argument("--adapt-threshold", type=int, default=5)
    ap.add_argument("--adapt-steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--qlognei-shortlist", type=int, default=200,
                    help="qLogNEI's shortlist; above 500 it is scored on one indexed joint "
                         "posterior (fast with the GP head, whose BoTorch model recomputes "
                         "a kernel per candidate set)")
    ap.add_argument("--compare", default="e2t-portfolio",
                    help="strategy compared seed by seed with the GP baselines")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_discovery.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    data_dir = files.find_data_dir(None)
    builders = {
        "pi1070-tc": lambda: pi1070_task("thermal_conductivity", data_dir,
                                         n_initial=args.n_initial, budget=args.budget,
                                         batch=args.batch, e2t_radius=args.e2t_radius),
        "pi1070-cp": lambda: pi1070_task("Cp", data_dir, n_initial=args.n_initial,
                                         budget=args.budget, batch=args.batch,
                                         e2t_radius=args.e2t_radius),
        "hoip-pbi": lambda: hoip_task(data_dir, n_initial=args.n_initial,
                                      budget=args.hoip_budget, batch=args.hoip_batch),
    }
    tasks = {name: builders[name]() for name in args.tasks}
    runs: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    if args.merge:
        merged: dict[tuple[str, str, int], dict[str, Any]] = {}
        sources = []
        for path in args.merge:  # later files replace earlier runs of the same key
            data = json.loads(path.read_text())
            sources.append({"file": path.name, "command": data["command"],
                            "merged_from": data.get("merged_from", []),
                            "versions": data.get("versions")})
            for run in data["runs"]:
                merged[(run["task"], run["strategy"], run["seed"])] = run
        args.merged_from = sources
        runs = sorted(merged.values(), key=lambda r: (r["seed"], r["task"]))
        runs = [r for r in runs if r["task"] in tasks and r["strategy"] in args.strategies]
        for r in runs:  # recomputed: the curve's definition may have changed since
            r["best_so_far"] = best_curve(tasks[r["task"]], r["seed"], r["order"]).tolist()
        summary = aggregate(runs, tasks)
        write(args, argv, runs, summary, tasks, len({r["seed"] for r in runs}), 0.0)
        print_table(summary, compare(runs, summary, tasks, args.compare))
        return 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for tname, task in tasks.items():
            fitted = None
            if any(s.startswith("e2t") for s in args.strategies):
                init = initial_data(task, seed)
                t0 = time.perf_counter()
                fitted = e2t_factory(args.steps, args.ensemble, seed, task.e2t_preset,
                                     args.e2t_preset)().fit(
                    task.e2t_X[init], task.y[init], task.domains[init])
                fit_s = time.perf_counter() - t0
            for strat in args.strategies:
                run = run_one(task, strat, seed, args,
                              fitted if strat.startswith("e2t") else None)
                if strat.startswith("e2t"):
                    run["fit_seconds"] = fit_s
                runs.append(run)
                print(f"[{time.perf_counter() - t_start:6.0f}s] {tname} seed {seed} "
                      f"{strat}: first hit {run['first_hit']}, found {run['found']:.2f}",
                      file=sys.stderr, flush=True)
        summary = aggregate(runs, tasks)
        write(args, argv, runs, summary, tasks, seed + 1 - args.first_seed,
              time.perf_counter() - t_start)
    print_table(summary, compare(runs, summary, tasks, args.compare))
    return 0


def write(args: argparse.Namespace, argv: list[str] | None, runs: list[dict[str, Any]],
          summary: list[dict[str, Any]], tasks: dict[str, Task], seeds_done: int,
          wall: float) -> None:
    """Write the JSON and the plot (called after every seed)."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": " ".join(["scripts/bench_discovery.py", *(argv or sys.argv[1:])]),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch_threads": args.threads},
        "settings": {k: ([str(x) for x in v] if isinstance(v, list) and v
                         and isinstance(v[0], Path) else str(v) if isinstance(v, Path) else v)
                     for k, v in vars(args).items() if k != "merged_from"},
        "seeds_done": seeds_done, "wall_seconds": wall,
        "merged_from": getattr(args, "merged_from", []),
        "tasks": {n: {"n": len(t.y), "pool": len(t.pool), "targets": sorted(t.targets),
                      "target_domains": sorted({str(t.domains[i]) for i in t.targets}),
                      "source_domains": sorted(set(t.domains[t.source].tolist())),
                      "budget": t.budget, "batch": t.batch, "n_initial": t.n_initial}
                  for n, t in tasks.items()},
    }
    comparison = compare(runs, summary, tasks, args.compare)
    args.out.write_text(json.dumps({**meta, "summary": summary, "comparison": comparison,
                                    "runs": runs}, indent=1, default=float))
    plot(runs, tasks, args.out.with_suffix(".png"), (args.compare, *GP_BASELINES))


def print_table(summary: list[dict[str, Any]],
                comparison: list[dict[str, Any]] | None = None) -> None:
    """Print the per-(task, strategy) table and the seed-by-seed comparison."""
    print(f"{'task':10} {'strategy':17} {'seeds':>5} {'1st hit':>8} {'10-90%':>11} {'EF':>6} "
          f"{'found':>6} {'EF':>6} {'never':>6}")
    for r in summary:
        band = f"{r['first_hit_p10']:.0f}-{r['first_hit_p90']:.0f}"
        print(f"{r['task']:10} {r['strategy']:17} {r['seeds']:5d} "
              f"{r['first_hit_mean']:8.1f} {band:>11} {r.get('ef_first_hit', float('nan')):6.2f} "
              f"{r['found_mean']:6.2f} {r.get('ef_found', float('nan')):6.2f} "
              f"{r['never_hit']:6.2f}")
    for c in comparison or []:
        parts = [f"{c['task']}: {c['strategy']} {c['ef_first_hit']:.1f}x random "
                 f"({'>= 5x' if c['ef_target_met'] else 'below 5x'})"]
        for base in GP_BASELINES:
            if base in c:
                d = c[base]
                parts.append(f"vs {base} {d['mean_difference']:+.1f} "
                             f"[{d['p10']:+.0f}, {d['p90']:+.0f}] {d['verdict']}")
        print("; ".join(parts))


if __name__ == "__main__":
    raise SystemExit(main())
