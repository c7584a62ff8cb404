"""Time a whole simulated campaign through the CLI, as a user would run it.

The shipped ``pi1070-tc`` campaign file with batches of ``--batch``; ``--initial``
random PI1070 polymers as the initial lab file; then ``e2t run --rounds N
--simulate-with TABLE --library LIBRARY`` (library and answers: the PI1070 table). Prints
the wall time of each command and of the whole campaign and writes JSON with the
command, versions, seed, machine and the campaign's outcome (best found, top-1% found).

    E2T_DATA_DIR=../shared/data python scripts/bench_campaign.py \
        --out scripts/results/bench_campaign.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from e2t_discovery.config.templates import template_path
from e2t_discovery.data import datasets

PROPERTY = "thermal_conductivity"


def run(cmd: list[str], cwd: Path) -> float:
    """Run one CLI command; return its wall seconds (raise with its output on failure)."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (rc {done.returncode}):\n{done.stdout}"
                         f"\n{done.stderr}")
    print(f"{seconds:7.1f} s  {' '.join(cmd[1:4])}", flush=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Build the campaign in a temporary folder, time it, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--initial", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=16)
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    table = datasets.load_pi1070(None)
    table = table[table[PROPERTY].notna()].reset_index(drop=True)
    targets = set(table.nlargest(max(1, round(0.01 * len(table))), PROPERTY)["id"])
    e2t = str(Path(sys.executable).with_name("e2t"))
    with tempfile.TemporaryDirectory(prefix="e2t-bench-campaign-") as tmp:
        work = Path(tmp)
        labels = table[["id", "smiles", PROPERTY, "polymer_class"]].assign(unit="W/m/K")
        labels.to_csv(work / "table.csv", index=False)
        labels[["id", "smiles", "polymer_class"]].to_csv(work / "library.csv", index=False)
        rng = np.random.default_rng(args.seed)
        labels.iloc[np.sort(rng.choice(len(labels), args.initial, replace=False))].to_csv(
            work / "initial.csv", index=False)
        text = template_path("pi1070-tc").read_text(encoding="utf-8")
        (work / "tc.toml").write_text(text.replace("batch_size = 10",
                                                   f"batch_size = {args.batch}"))
        steps = {
            "init": run([e2t, "init", "tc", "--config", "tc.toml", "--dir", "c"], work),
            "ingest": run([e2t, "ingest", "tc", "initial.csv", "--dir", "c"], work),
        }
        steps["run"] = run([e2t, "run", "tc", "--rounds", str(args.rounds), "--simulate-with",
                            "table.csv", "--library", "library.csv", "--dir", "c"], work)
        import duckdb

        with duckdb.connect(str(next((work / "c" / "tc").glob("*.duckdb"))),
                            read_only=True) as con:
            rows = con.execute("SELECT material_id, value, round FROM measurement "
                               "ORDER BY round, id").fetchall()
    later = [r for r in rows if r[2] > 0]
    found = sorted({r[0] for r in rows} & targets)
    first = next((k for k, r in enumerate(later, start=1) if r[0] in targets), None)
    result = {
        "command": " ".join(["scripts/bench_campaign.py", *(argv or sys.argv[1:])]),
        "versions": {"python": platform.python_version()},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1min": os.getloadavg()[0]},
        "settings": vars(args) | {"out": str(args.out)},
        "seconds": steps, "total_seconds": sum(steps.values()),
        "measurements": len(rows), "best": max(r[1] for r in rows),
        "top_1pct_found": len(found), "top_1pct_total": len(targets),
        "first_top_1pct_after": first,
    }
    print(f"campaign: {args.initial} initial + {args.rounds} rounds of {args.batch}: "
          f"{result['total_seconds']:.1f} s in all ({steps['run']:.1f} s of `e2t run`); "
          f"top-1% found {len(found)} of {len(targets)}, first after {first}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
