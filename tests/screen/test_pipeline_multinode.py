"""A screen on a two-node Ray cluster (``ray.cluster_utils.Cluster`` on this machine).

The cluster cannot share the session's local Ray, so it runs in a subprocess; the test
compares its output with a serial :func:`score_batch` of the same candidates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from e2t_discovery.data.datasets import load_pi1070
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.model import E2TSurrogate
from e2t_discovery.screen.scoring import score_batch

SCRIPT = textwrap.dedent("""
    import json, sys
    from ray.cluster_utils import Cluster
    from e2t_discovery.screen.pipeline import screen_library
    from e2t_discovery.screen.scoring import ScoreSettings

    lib, model, out = sys.argv[1:4]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        summary = screen_library(lib, model, out, ScoreSettings(kind="polymer",
                                 item_column="smiles"), batch_size=10, workers=2,
                                 ray_address=cluster.address, progress=False)
    finally:
        cluster.shutdown()
    print(json.dumps({"node_batches": summary.node_batches, "workers": summary.workers,
                      "n_scored": summary.n_scored}))
""")


@pytest.mark.slow
def test_screen_spreads_over_two_nodes_with_same_results(data_dir, tmp_path):
    torch.set_num_threads(1)
    pi = load_pi1070(data_dir).dropna(subset=["thermal_conductivity"])
    train, pool = pi.iloc[::6].head(120), pi.iloc[3::6].head(80)
    featurizer = get_featurizer("polymer")
    model = E2TSurrogate(steps=20, eval_every=10, device="cpu").fit(
        featurizer.transform(train["smiles"].tolist()),
        train["thermal_conductivity"].to_numpy(), groups=train["polymer_class"].to_numpy(),
        progress=False)
    model.save(tmp_path / "model")
    lib = tmp_path / "lib"
    lib.mkdir()
    candidates = pd.DataFrame({"id": pool["id"].astype(str), "smiles": pool["smiles"]})
    for k in range(4):
        candidates.iloc[k * 20:(k + 1) * 20].to_parquet(lib / f"p{k}.parquet", index=False)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(lib), str(tmp_path / "model"), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["workers"] == 2 and report["n_scored"] == 80
    assert len(report["node_batches"]) == 2  # both nodes scored batches
    assert sum(report["node_batches"].values()) == 8
    parallel = pd.read_parquet(tmp_path / "out" / "scores").sort_values("id")
    serial, rejects = score_batch(candidates, model, featurizer, item_column="smiles")
    serial = serial.sort_values("id")
    assert rejects.empty and parallel["id"].tolist() == serial["id"].tolist()
    for col in ("mean", "std", "domain_distance", "acquisition"):
        np.testing.assert_allclose(parallel[col], serial[col], rtol=1e-5, atol=1e-9)
