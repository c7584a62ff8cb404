"""Tests of the screening pipeline: Ray actors or in process, shards, resume, rejects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from e2t_discovery.featurize import get_featurizer
from e2t_discovery.model import E2TSurrogate
from e2t_discovery.screen.pipeline import screen_library
from e2t_discovery.screen.scoring import ScoreSettings, score_batch


def test_parallel_screen_equals_serial_scoring(model_dir, candidates, bad, tmp_path,
                                               write_shards, ray_session):
    import tempfile

    lib = write_shards(candidates, tmp_path / "lib", 60)
    settings = ScoreSettings(kind="polymer", item_column="smiles", beta=2.0)
    done: list[str] = []
    temp = Path(tempfile.gettempdir())
    before = set(temp.glob("e2t-model-*"))
    summary = screen_library(lib, model_dir, tmp_path / "out", settings, batch_size=16,
                             workers=2, progress=False,
                             on_unit_done=lambda u, p, n, r: done.append(u.name))
    assert set(temp.glob("e2t-model-*")) == before  # actors leave no model copies behind
    assert summary.n_scored == len(candidates) - len(bad)
    assert summary.n_rejected == len(bad) and summary.workers == 2
    assert sorted(done) == ["part-000", "part-001", "part-002", "part-003"]
    parallel = pd.read_parquet(tmp_path / "out" / "scores").sort_values("id")
    serial, serial_rejects = score_batch(
        candidates, E2TSurrogate.load(model_dir), get_featurizer("polymer"),
        item_column="smiles", beta=2.0)
    serial = serial.sort_values("id")
    assert parallel["id"].tolist() == serial["id"].tolist()
    for col in ("mean", "std", "domain_distance", "acquisition"):
        np.testing.assert_allclose(parallel[col], serial[col], rtol=1e-5, atol=1e-9)
    rejects = pd.read_parquet(tmp_path / "out" / "rejects")
    core = ["id", "item", "reason"]
    pd.testing.assert_frame_equal(
        rejects[core].sort_values("id").reset_index(drop=True),
        serial_rejects[core].astype(object).sort_values("id").reset_index(drop=True),
        check_dtype=False)
    # each reject names its shard and 1-based data row there, across batches of 16
    for rec in rejects.itertuples():
        assert pd.read_parquet(rec.file).iloc[rec.row - 1]["id"] == rec.id
    assert sorted(rejects["row"]) == [51, 52, 53]  # shard part-000 holds rows 1-60
    assert summary.first_reject == (f"{lib / 'part-000.parquet'}: row 51, column 'smiles': "
                                    f"{serial_rejects['reason'].iloc[0]}")


def test_resume_scores_only_unfinished_shards(model_dir, candidates, tmp_path, write_shards,
                                              ray_session):
    lib = write_shards(candidates.head(90), tmp_path / "lib", 30)
    settings = ScoreSettings(kind="polymer", item_column="smiles")
    first = screen_library(lib, model_dir, tmp_path / "out", settings, batch_size=32,
                           workers=1, progress=False)
    before = pd.read_parquet(tmp_path / "out" / "scores" / "part-000.parquet")
    (tmp_path / "out" / "scores" / "part-001.parquet").unlink()  # as if killed mid-way
    redone: list[str] = []
    second = screen_library(lib, model_dir, tmp_path / "out", settings, workers=1,
                            done={"part-000", "part-002"}, progress=False,
                            on_unit_done=lambda u, p, n, r: redone.append(u.name))
    assert first.n_units == 3 and first.skipped == 0
    assert second.skipped == 2 and redone == ["part-001"]
    assert second.n_scored + second.n_rejected == 30
    pd.testing.assert_frame_equal(
        before, pd.read_parquet(tmp_path / "out" / "scores" / "part-000.parquet"))
    nothing = screen_library(lib, model_dir, tmp_path / "out", settings, progress=False,
                             done={"part-000", "part-001", "part-002"})
    assert nothing.skipped == 3 and nothing.workers == 0


def test_in_process_screen_writes_units_in_order_and_leaves_no_temp_files(
        model_dir, candidates, tmp_path, write_shards, monkeypatch):
    import tempfile

    lib = write_shards(candidates, tmp_path / "lib", 100)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where this process's temp files go
    settings = ScoreSettings(kind="polymer", item_column="smiles", beta=2.0)
    done: list[tuple[str, int, int]] = []
    summary = screen_library(lib, model_dir, tmp_path / "out", settings, batch_size=32,
                             progress=False, in_process=True,
                             on_unit_done=lambda u, p, n, r: done.append((u.name, n, r)))
    assert list(temp.iterdir()) == []
    assert summary.node_batches == {"in-process": 4 + 4 + 1} and summary.workers == 1
    assert done == [("part-000", 97, 3), ("part-001", 100, 0), ("part-002", 30, 0)]
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == [
        "part-000.parquet", "part-000.parquet", "part-001.parquet", "part-001.parquet",
        "part-002.parquet", "part-002.parquet", "rejects", "scores"]  # no .tmp left over
    serial, _ = score_batch(candidates, E2TSurrogate.load(model_dir), get_featurizer("polymer"),
                            item_column="smiles", beta=2.0)
    here = pd.read_parquet(tmp_path / "out" / "scores")
    assert here["id"].tolist() == serial["id"].tolist()  # units and batches kept in order
    np.testing.assert_allclose(here["mean"], serial["mean"], rtol=1e-6)


_QUIET = textwrap.dedent("""
    import json, sys
    import ray
    from e2t_discovery.screen.pipeline import screen_library
    from e2t_discovery.screen.scoring import ScoreSettings
    lib, model, out = sys.argv[1:4]
    settings = ScoreSettings(kind="polymer", item_column="smiles", beta=2.0)
    small = screen_library(lib, model, out + "/a", settings, batch_size=64, progress=False)
    after_small = ray.is_initialized()
    big = screen_library(lib, model, out + "/b", settings, batch_size=64, progress=False,
                         in_process=False, workers=1)
    print(json.dumps({"small": small.node_batches, "ray_after_small": after_small,
                      "big": small.n_scored == big.n_scored, "ray_after": ray.is_initialized(),
                      "big_nodes": list(big.node_batches)}))
""")


def test_small_library_skips_ray_and_ray_starts_quietly(model_dir, candidates, tmp_path,
                                                        write_shards):
    lib = write_shards(candidates, tmp_path / "lib", 120)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    proc = subprocess.run([sys.executable, "-c", _QUIET, str(lib), str(model_dir),
                           str(tmp_path / "out")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["small"] == {"in-process": 4}  # 2 shards x 2 batches, no Ray
    assert report["ray_after_small"] is False and report["ray_after"] is False
    assert report["big"] and report["big_nodes"] != ["in-process"]
    assert "Token authentication" not in proc.stderr and "dashboard" not in proc.stderr.lower()
    serial, _ = score_batch(candidates, E2TSurrogate.load(model_dir), get_featurizer("polymer"),
                            item_column="smiles", beta=2.0)
    here = pd.read_parquet(tmp_path / "out" / "a" / "scores").sort_values("id")
    np.testing.assert_allclose(here["mean"], serial.sort_values("id")["mean"], rtol=1e-5)
