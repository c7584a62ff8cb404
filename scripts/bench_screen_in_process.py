"""Where a screen should skip Ray: in-process scoring against a fresh local Ray, by size.

A command that screens a small library pays Ray's start-up (GCS, raylet, workers, the
model shipped to each actor) before the first candidate is scored. This measures, on
prefixes of one virtual polymer library and the shipped-settings model of
``bench_screen.py``, the wall time of ``screen_library`` in process (one process, the
same batches and shards) and on a fresh local Ray with ``--workers`` actors, fits
``time = start-up + n / rate`` to each, and prints the break-even size where Ray starts
to pay. ``e2t_discovery.screen.pipeline.IN_PROCESS_MAX_ROWS`` is set from this figure.

Prints a table and writes JSON to ``scripts/results/bench_screen_in_process.json``::

    python scripts/bench_screen_in_process.py --sizes 200 2000 10000 30000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_screen import _library, _model  # noqa: E402

from e2t_discovery.screen.library import library_shards  # noqa: E402
from e2t_discovery.screen.pipeline import IN_PROCESS_MAX_ROWS, screen_library  # noqa: E402
from e2t_discovery.screen.scoring import ScoreSettings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _prefix(lib: Path, n: int, work: Path) -> Path:
    """The first ``n`` rows of a library as one Parquet file."""
    path = work / f"prefix-{n}.parquet"
    if not path.is_file():
        parts, have = [], 0
        for shard in library_shards(lib):
            frame = pd.read_parquet(shard)
            parts.append(frame.head(n - have))
            have += len(parts[-1])
            if have >= n:
                break
        pd.concat(parts, ignore_index=True).to_parquet(path, index=False)
    return path


def _time(lib: Path, model_dir: Path, out: Path, *, in_process: bool, workers: int,
          batch_size: int) -> dict:
    if out.exists():
        shutil.rmtree(out)
    settings = ScoreSettings(kind="polymer", item_column="smiles", canonical=True)
    start = time.perf_counter()
    summary = screen_library(lib, model_dir, out, settings, batch_size=batch_size,
                             workers=None if in_process else workers, progress=False,
                             in_process=in_process)
    elapsed = time.perf_counter() - start
    shutil.rmtree(out)
    return {"elapsed_s": round(elapsed, 3), "startup_s": round(summary.startup_s, 3),
            "n": summary.n_scored + summary.n_rejected}


def _fit(ns: list[int], ts: list[float]) -> tuple[float, float]:
    """Least squares ``t = a + b n``; return (a seconds, b seconds per row)."""
    b, a = np.polyfit(np.asarray(ns, float), np.asarray(ts, float), 1)
    return float(a), float(b)


def main(argv: list[str] | None = None) -> dict:
    """Run the measurement; print a table; write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000, 10000, 30000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--preset", default="fingerprint")
    parser.add_argument("--model-steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/e2t-bench"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_screen_in_process.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    model_dir = _model(args.work_dir, args.data_dir, args.model_steps, args.preset)
    lib, _ = _library(args.work_dir, max(100_000, max(args.sizes)), args.seed, args.data_dir)
    rows = []
    for n in args.sizes:
        prefix = _prefix(lib, n, args.work_dir)
        for rep in range(args.repeats):
            load = os.getloadavg()[0]
            here = _time(prefix, model_dir, args.work_dir / "out-here", in_process=True,
                         workers=1, batch_size=args.batch_size)
            ray_run = _time(prefix, model_dir, args.work_dir / "out-ray", in_process=False,
                            workers=args.workers, batch_size=args.batch_size)
            row = {"n": n, "repeat": rep, "in_process_s": here["elapsed_s"],
                   "ray_s": ray_run["elapsed_s"], "ray_startup_s": ray_run["startup_s"],
                   "ratio_ray_over_in_process": round(ray_run["elapsed_s"] / here["elapsed_s"], 3),
                   "load_before": round(load, 2)}
            rows.append(row)
            print(f"n={n:>7,}  in process {row['in_process_s']:7.2f} s  "
                  f"Ray x{args.workers} {row['ray_s']:7.2f} s (start-up {row['ray_startup_s']:.1f})"
                  f"  Ray/in-process {row['ratio_ray_over_in_process']:.2f}  load {load:.1f}",
                  flush=True)
    ns = [r["n"] for r in rows]
    a1, b1 = _fit(ns, [r["in_process_s"] for r in rows])
    a2, b2 = _fit(ns, [r["ray_s"] for r in rows])
    break_even = (a2 - a1) / (b1 - b2) if b1 > b2 else float("inf")
    print(f"in process: {a1:.2f} s + n / {1 / b1:,.0f}/s;  Ray x{args.workers}: "
          f"{a2:.2f} s + n / {1 / b2:,.0f}/s;  break-even n = {break_even:,.0f} "
          f"(IN_PROCESS_MAX_ROWS = {IN_PROCESS_MAX_ROWS:,})")
    result = {
        "command": " ".join([sys.executable, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "note": "shared with other jobs; see load_before"},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "ray": __import__("ray").__version__,
                     "rdkit": __import__("rdkit").__version__},
        "seed": args.seed, "preset": args.preset, "workers": args.workers, "runs": rows,
        "fit": {"in_process_startup_s": round(a1, 3), "in_process_rate": round(1 / b1, 1),
                "ray_startup_s": round(a2, 3), "ray_rate": round(1 / b2, 1) if b2 > 0 else None,
                "break_even_rows": None if break_even == float("inf") else round(break_even)},
        "in_process_max_rows": IN_PROCESS_MAX_ROWS,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
