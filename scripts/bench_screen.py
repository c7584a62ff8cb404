"""Benchmark the screening pipeline: featurize rate per core, end-to-end rate, peak memory.

For each library size (virtual polymers generated from PI1070's repeat units, reused from
``--work-dir`` when already there) this measures:

(a) the single-core featurization rate of the library's p-SMILES (Morgan count
    fingerprints through the package's featurizer: its checks, no canonical SMILES — the
    generated library is canonical already —, one process, one thread), and the bare
    RDKit rate (``Chem.MolFromSmiles`` + count fingerprint, nothing else: the issue's
    reference; the featurizer itself sanitizes only as far as a fingerprint reads, so it
    can run faster than this reference) measured right before and right after each
    screen run (their mean is the reference; the machine drifts), plus, for several
    workers, the summed rate of that many bare loops running at once (what the cores
    deliver together: reported, not used as the target's reference);
(b) the end-to-end screen rate (read shards -> featurize -> predict mean/std/distance ->
    acquisition -> write Parquet) with 1 and 2 Ray workers, a fresh local Ray per run;
(c) the peak resident memory of the whole process tree (this process, Ray's GCS,
    raylet and workers), sampled by a thread every 0.5 s: the sum of RSS (an upper bound,
    shared pages counted once per process) and the sum of PSS (shared pages split).

Prints a table and writes JSON to ``scripts/results/bench_screen.json``. Example::

    nice -n 10 python scripts/bench_screen.py --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import torch

from e2t_discovery.data.datasets import load_pi1070
from e2t_discovery.data.generate import generate_polymer_library
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.model import E2TSurrogate
from e2t_discovery.screen.library import library_shards
from e2t_discovery.screen.pipeline import screen_library
from e2t_discovery.screen.scoring import ScoreSettings

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class MemorySampler:
    """Sample the memory of this process and all its descendants in a thread."""

    interval_s: float = 0.5
    peak_rss: int = 0
    peak_pss: int = 0
    _cpu: dict[int, float] = field(default_factory=dict)
    _cpu0: float = 0.0
    _role: dict[int, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _tree(self) -> list[psutil.Process]:
        me = psutil.Process()
        return [me, *me.children(recursive=True)]

    def _sample(self, with_pss: bool) -> None:
        rss = pss = 0
        for proc in self._tree():
            try:
                times = proc.cpu_times()
                self._cpu[proc.pid] = times.user + times.system
                if self._role.get(proc.pid, "ray") == "ray":  # actors rename themselves
                    self._role[proc.pid] = _role(proc)
                if with_pss:
                    info = proc.memory_full_info()
                    rss += info.rss
                    pss += info.pss
                else:
                    rss += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        self.peak_rss = max(self.peak_rss, rss)
        if with_pss:
            self.peak_pss = max(self.peak_pss, pss)

    def _run(self) -> None:
        k = 0
        while not self._stop.is_set():
            self._sample(with_pss=k % 4 == 0)
            k += 1
            self._stop.wait(self.interval_s)

    @property
    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds by role: ``driver`` (this process, the sampler thread included),
        ``actors`` (scoring actors: featurize, predict, (de)serialize batches), ``ray``
        (Ray's daemons and idle workers, start-up included)."""
        out: dict[str, float] = {}
        for pid, sec in self._cpu.items():
            role = self._role.get(pid, "ray")
            out[role] = out.get(role, 0.0) + sec - (self._cpu0 if role == "driver" else 0.0)
        return {k: round(v, 1) for k, v in sorted(out.items())}

    @property
    def cpu_s(self) -> float:
        """CPU seconds used by the tree since start (last sample of every process seen)."""
        return sum(self._cpu.values()) - self._cpu0

    def __enter__(self) -> MemorySampler:
        me = psutil.Process().cpu_times()
        self._cpu0 = me.user + me.system
        self._cpu = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _role(proc: psutil.Process) -> str:
    """``driver`` for this process, ``actors`` for Ray's scoring actors, else ``ray``."""
    if proc.pid == os.getpid():
        return "driver"
    try:
        text = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "ray"
    return "actors" if "ray::Scorer" in text else "ray"


def _model(work: Path, data_dir: str | None, steps: int, preset: str = "plain") -> Path:
    """Fit (once) a surrogate on 400 PI1070 polymers and save it under ``work/model``.

    ``preset`` is ``plain`` (the surrogate's defaults) or a name of
    :data:`e2t_discovery.model.presets.PRESETS` (``fingerprint``: the shipped PI1070
    campaigns' settings, with a Tanimoto kernel path that costs time per candidate).
    """
    from e2t_discovery.model.presets import PRESETS

    path = work / ("model" if preset == "plain" else f"model-{preset}")
    if (path / "config.json").is_file():
        return path
    pi = load_pi1070(data_dir).dropna(subset=["thermal_conductivity"]).iloc[::2].head(400)
    X = get_featurizer("polymer").transform(pi["smiles"].tolist())
    settings = {} if preset == "plain" else dict(PRESETS[preset])
    settings["steps"] = steps
    model = E2TSurrogate(**settings, device="cpu").fit(
        X, pi["thermal_conductivity"].to_numpy(), groups=pi["polymer_class"].to_numpy(),
        progress=False)
    model.save(path)
    return path


def _library(work: Path, n: int, seed: int, data_dir: str | None) -> tuple[Path, dict]:
    """Return a library of ``n`` candidates (folder, manifest): reused, a prefix, or new.

    The generator is deterministic, so the first ``n`` candidates of a larger library made
    with the same seed *are* the ``n``-candidate library; when ``n`` is a whole number of
    its shards, a folder of links to those shards is used instead of generating again.
    """
    path = work / f"lib-{n}"
    manifest = path / "library.json"
    if manifest.is_file():
        meta = json.loads(manifest.read_text())
        if meta["n"] == n and meta["seed"] == seed:
            return path, meta
    for big in sorted(work.glob("lib-*/library.json")):
        meta = json.loads(big.read_text())
        size = int(meta["params"]["shard_size"])
        if meta["seed"] == seed and meta["n"] > n and n % size == 0:
            prefix = work / f"lib-{n}-prefix-of-{meta['n']}"
            prefix.mkdir(exist_ok=True)
            for name in meta["shards"][: n // size]:
                link = prefix / name
                if not link.exists():
                    link.symlink_to(big.parent / name)
            return prefix, {**meta, "n": n, "prefix_of": meta["n"]}
    if path.exists():
        shutil.rmtree(path)
    pi = load_pi1070(data_dir)
    generate_polymer_library(pi["smiles"].tolist(), n, seed, path,
                             domains=pi["polymer_class"].astype(str).tolist(),
                             parents=pi["id"].tolist(), workers=2, progress=False)
    return path, json.loads(manifest.read_text())


def _sample_items(lib: Path, n_sample: int) -> list[str]:
    """The first ``n_sample`` p-SMILES of a library."""
    items: list[str] = []
    for shard in library_shards(lib):
        items.extend(pd.read_parquet(shard, columns=["smiles"])["smiles"].tolist())
        if len(items) >= n_sample:
            break
    return items[:n_sample]


def _featurize_rate(lib: Path, n_sample: int) -> tuple[float, float]:
    """Single-core featurization rate on the first ``n_sample`` library rows.

    Returns:
        ``(items per wall second, items per CPU second)``.
    """
    items = _sample_items(lib, n_sample)
    featurizer = get_featurizer("polymer")
    featurizer.transform_with_rejects(items[:200])  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    featurizer.transform_with_rejects(items)
    return (len(items) / (time.perf_counter() - start),
            len(items) / (time.process_time() - cpu))


def _raw_rdkit_rate(lib: Path, n_sample: int) -> float:
    """Single-core rate of bare RDKit: parse + Morgan count fingerprint (radius 3, 2048).

    No canonical SMILES, no checks, no array assembly: the ceiling any screen of these
    fingerprints is measured against.
    """
    return _raw_loop(_sample_items(lib, n_sample))


def _raw_loop(items: list[str]) -> float:
    """The bare RDKit loop over ``items``, items per second (also one process of
    :func:`_raw_parallel_rate`)."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=3, fpSize=2048)
    start = time.perf_counter()
    for smi in items:
        mol = Chem.MolFromSmiles(smi)
        if mol is not None:
            gen.GetCountFingerprintAsNumPy(mol)
    return len(items) / (time.perf_counter() - start)


def _raw_parallel_rate(lib: Path, n_sample: int, workers: int) -> float:
    """Summed rate of ``workers`` bare RDKit loops running at once (separate processes).

    What this machine's cores deliver together (shared caches, memory bandwidth, clock);
    reported beside the target, which is ``workers x`` the single-core rate.
    """
    import multiprocessing

    items = _sample_items(lib, n_sample)
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return float(sum(pool.map(_raw_loop, [items] * workers)))


def _model_rate(model_dir: Path, lib: Path, n_rows: int = 4096) -> float:
    """Single-thread rate (rows/s) of what a screen asks the model for: mean, std and
    domain distance in one pass (``predict_with_distance``), after a warm-up call (the
    support's MinMax index is built once per loaded model)."""
    items = pd.read_parquet(library_shards(lib)[0], columns=["smiles"])["smiles"].head(n_rows)
    X = get_featurizer("polymer").transform(items.tolist())
    model = E2TSurrogate.load(model_dir)
    model.predict_with_distance(X[:16])
    start = time.perf_counter()
    model.predict_with_distance(X)
    return len(X) / (time.perf_counter() - start)


def _screen(lib: Path, model_dir: Path, out: Path, workers: int, batch_size: int) -> dict:
    """One end-to-end screen with a fresh local Ray of ``workers`` CPUs."""
    if out.exists():
        shutil.rmtree(out)
    settings = ScoreSettings(kind="polymer", item_column="smiles", canonical=True)
    with MemorySampler() as mem:
        summary = screen_library(lib, model_dir, out, settings, batch_size=batch_size,
                                 workers=workers, progress=False)
    shutil.rmtree(out)
    return {"workers": workers, "elapsed_s": round(summary.elapsed_s, 2),
            "n_scored": summary.n_scored, "n_rejected": summary.n_rejected,
            "rate": round(summary.rate, 1), "startup_s": round(summary.startup_s, 2),
            "steady_rate": round(summary.steady_rate, 1),
            "cpu_s": round(mem.cpu_s, 1), "cpu_s_by_role": mem.cpu_by_role,
            "peak_rss_gb": round(mem.peak_rss / 2**30, 3),
            "peak_pss_gb": round(mem.peak_pss / 2**30, 3)}


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; print a table; write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--featurize-sample", type=int, default=20_000)
    parser.add_argument("--model-steps", type=int, default=200)
    parser.add_argument("--preset", default="plain",
                        help="surrogate settings: plain, or a preset name (fingerprint)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/e2t-bench"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_screen.json")
    parser.add_argument("--append", action="store_true",
                        help="keep the runs already in --out (same size/workers replaced)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    model_dir = _model(args.work_dir, args.data_dir, args.model_steps, args.preset)
    rows = []
    for n in args.sizes:
        lib, meta = _library(args.work_dir, n, args.seed, args.data_dir)
        feat, feat_cpu = _featurize_rate(lib, min(n, args.featurize_sample))
        sample = min(n, args.featurize_sample)
        model_rate = _model_rate(model_dir, lib)
        for w in args.workers:
            # the bare rate right before and right after each run (the machine drifts)
            raw_before = _raw_rdkit_rate(lib, sample)
            parallel = _raw_parallel_rate(lib, sample, w) if w > 1 else raw_before
            load_before = os.getloadavg()[0]
            run = _screen(lib, model_dir, args.work_dir / f"out-{n}-{w}", w, args.batch_size)
            raw_after = _raw_rdkit_rate(lib, sample)
            raw = 0.5 * (raw_before + raw_after)
            n_items = run["n_scored"] + run["n_rejected"]
            run.update(n=n, preset=args.preset, featurize_rate_1core=round(feat, 1),
                       featurize_rate_1core_cpu=round(feat_cpu, 1),
                       cpu_efficiency=round(n_items / feat_cpu / run["cpu_s"], 3),
                       model_rate_1thread=round(model_rate, 1),
                       raw_rdkit_rate_1core=round(raw, 1),
                       raw_rdkit_rate_1core_before_after=[round(raw_before, 1),
                                                          round(raw_after, 1)],
                       raw_efficiency=round(run["rate"] / (w * raw), 3),
                       raw_steady_efficiency=round(run["steady_rate"] / (w * raw), 3),
                       raw_rdkit_rate_parallel=round(parallel, 1),
                       parallel_scaling=round(parallel / raw_before, 3),
                       efficiency=round(run["rate"] / (w * feat), 3),
                       steady_efficiency=round(run["steady_rate"] / (w * feat), 3),
                       load_before=round(load_before, 2),
                       load_after=round(os.getloadavg()[0], 2),
                       library=str(lib), library_prefix_of=meta.get("prefix_of"),
                       library_generation_s=round(meta["elapsed_s"], 1))
            rows.append(run)
            print(_row(run), flush=True)
    result = {
        "command": " ".join([sys.executable, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor(),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "note": "shared with other jobs; see load_before/load_after"},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "ray": __import__("ray").__version__,
                     "rdkit": __import__("rdkit").__version__, "numpy": np.__version__},
        "seed": args.seed, "batch_size": args.batch_size, "runs": rows,
    }
    if args.append and args.out.is_file():
        new = {(r["n"], r["workers"]) for r in rows}
        old = json.loads(args.out.read_text())
        kept = [r for r in old["runs"] if (r["n"], r["workers"]) not in new]
        result["runs"] = sorted([*kept, *rows], key=lambda r: (r["n"], r["workers"]))
        result["command"] = [*([old["command"]] if isinstance(old["command"], str)
                               else old["command"]), result["command"]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return result


def _row(r: dict) -> str:
    """One table line."""
    return (f"n={r['n']:>9,}  workers={r['workers']}  "
            f"featurize/core={r['featurize_rate_1core']:>7,.0f}/s  "
            f"raw RDKit/core={r.get('raw_rdkit_rate_1core', float('nan')):>7,.0f}/s  "
            f"screen={r['rate']:>7,.0f}/s  of raw={r.get('raw_efficiency', float('nan')):.0%} "
            f"(after start-up {r.get('raw_steady_efficiency', float('nan')):.0%}; "
            f"{r.get('workers', 1)} bare loops at once: "
            f"{r.get('parallel_scaling', float('nan')):.2f}x one)  "
            f"efficiency={r['efficiency']:.0%} "
            f"(after start-up {r['steady_efficiency']:.0%}; CPU-time {r['cpu_efficiency']:.0%})"
            f"  peak RSS={r['peak_rss_gb']:.2f} GB (PSS {r['peak_pss_gb']:.2f})"
            f"  {r['elapsed_s']:.0f} s  load {r['load_before']:.1f}->{r['load_after']:.1f}")


if __name__ == "__main__":
    main()
