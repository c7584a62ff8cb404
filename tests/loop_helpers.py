"""A small real campaign on PI1070 for the closed-loop tests (tiny model, tiny library)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
from campaign_helpers import campaign_toml

from e2t_discovery.data import datasets
from e2t_discovery.loop.campaign import Campaign

PROPERTY = "thermal_conductivity"



def loop_config(strategy: str, batch: int, direction: str) -> str:
    """The shipped PI1070 campaign with a small surrogate and the given strategy."""
    return campaign_toml("pi1070-tc", {
        "campaign": {"name": "loop-test"}, "target.unit_column": None, "target.min": None,
        "target.conversions": None, "objective": {"direction": direction},
        "model": {"adaptation_threshold": 2, "settings": {
            "seed": 0, "steps": 20, "ensemble": 1, "eval_every": 10, "n_support": 32,
            "n_query": 16}},
        "strategy": {"name": strategy, "batch_size": batch}})


def small_table(data_dir: Path, n: int = 60, seed: int = 0) -> pd.DataFrame:
    """``n`` PI1070 rows with a thermal conductivity, from classes 2, 4, 7 and 13."""
    table = datasets.load_pi1070(data_dir)
    table = table[table[PROPERTY].notna() & table["polymer_class"].isin([2, 4, 7, 13])]
    rng = np.random.default_rng(seed)
    rows = table.iloc[np.sort(rng.choice(len(table), n, replace=False))]
    return rows[["id", "smiles", PROPERTY, "polymer_class"]].reset_index(drop=True)


def make_campaign(root: Path, data_dir: Path, *, strategy: str = "ucb", batch: int = 3,
                  name: str = "loop", direction: str = "maximize",
                  extra_toml: str = "") -> tuple[Path, Path, Path]:
    """Create a campaign with 16 initial measurements (classes 2 and 4).

    ``extra_toml`` is appended to the campaign file (e.g. a ``[transfer]`` table).

    Returns:
        ``(campaign root, library csv, labelled table csv)``.
    """
    table = small_table(data_dir)
    lib = root / "library.csv"
    table[["id", "smiles", "polymer_class"]].to_csv(lib, index=False)
    labels = root / "labels.csv"
    table.to_csv(labels, index=False)
    cfg = root / "loop.toml"
    cfg.write_text(loop_config(strategy, batch, direction) + extra_toml)
    initial = table[table["polymer_class"].isin([2, 4])].head(16).assign(unit="W/m/K")
    init_path = root / "initial.csv"
    initial.to_csv(init_path, index=False)
    campaigns = root / "campaigns"
    with Campaign.create(name, cfg, campaigns) as campaign:
        campaign.ingest(init_path)
    return campaigns, lib, labels


def kill_twice_then_finish(cmd: list[str], *, low_s: float, high_s: float,
                           timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``, SIGKILL it at a random moment in ``[low_s, high_s]`` twice, then run it
    to the end; return the last run."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    rng = np.random.default_rng(int(time.time()))
    for _ in range(2):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(float(rng.uniform(low_s, high_s)))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
