"""End to end through the CLI: library -> screen (resumable, recorded) -> propose."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from campaign_helpers import campaign_toml

from e2t_discovery.cli import main
from e2t_discovery.data.datasets import load_pi1070
from e2t_discovery.loop.campaign import Campaign

CONFIG = campaign_toml("pi1070-tc", {
    "campaign": {"name": "tc"}, "representation.id_column": None,
    "representation.featurizer": None, "target.unit_column": None, "target.min": None,
    "target.conversions": None, "model": {"settings": {
        "steps": 30, "eval_every": 10, "device": "cpu"}},
    "strategy": {"name": "new-domain", "batch_size": 4, "params": {"share": 0.5}}})


def _cli(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0, f"e2t {' '.join(args)} exited with {exc.value.code}"


@pytest.fixture(scope="module")
def campaign_root(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained campaign on 150 PI1070 polymers of classes other than 13."""
    root = tmp_path_factory.mktemp("campaigns")
    pi = load_pi1070(data_dir).dropna(subset=["thermal_conductivity"])
    lab = pi[pi["polymer_class"] != 13].iloc[::3].head(150)
    lab_file = root / "lab.csv"
    lab.assign(unit="W/m/K")[["id", "smiles", "thermal_conductivity", "unit",
                              "polymer_class"]].to_csv(lab_file, index=False)
    (root / "tc.toml").write_text(CONFIG)
    with Campaign.create("tc", root / "tc.toml", root=root) as campaign:
        campaign.ingest(lab_file)
        campaign.train(progress=False)
    return root


def test_library_screen_propose(campaign_root, data_dir, tmp_path, ray_session, capsys):
    lib = tmp_path / "lib"
    _cli(["library", "polymers", "--n", "600", "--seed", "4", "--out", str(lib),
          "--shard-size", "200", "--data-dir", str(data_dir), "--id-prefix", "L1-"])
    assert len(list(lib.glob("shard-*.parquet"))) == 3
    _cli(["screen", "tc", "--library", str(lib), "--chunk-size", "128", "--workers", "2",
          "--dir", str(campaign_root)])
    with Campaign.open("tc", root=campaign_root, read_only=True) as campaign:
        runs = campaign.store.screen_runs()
        assert runs["n_rows"].tolist() == [600] and runs["status"].tolist() == ["done"]
        results = campaign.store.screen_results(int(runs["id"].iloc[0]))
        assert len(results) == 600 and results["id"].is_unique
        assert results["id"].str.match(r"^L1-\d{7}$").all()
    # the same library and model again: every shard is skipped, no new run
    _cli(["screen", "tc", "--library", str(lib), "--dir", str(campaign_root)])
    with Campaign.open("tc", root=campaign_root, read_only=True) as campaign:
        assert len(campaign.store.screen_runs()) == 1
    out = tmp_path / "proposals.csv"
    capsys.readouterr()
    _cli(["propose", "tc", "--out", str(out), "--dir", str(campaign_root)])
    batch = pd.read_csv(out)
    # maximize: the UCB family's acquisition is `ucb`, mean + beta std in W/m/K
    assert list(batch.columns) == ["rank", "id", "structure", "mean", "std", "ucb",
                                   "domain", "domain_distance", "out_of_domain", "reason"]
    assert (batch["ucb"] - batch["mean"] - 2.0 * batch["std"]).abs().max() < 1e-9
    assert len(batch) == 4 and batch["id"].is_unique
    with Campaign.open("tc", root=campaign_root, read_only=True) as campaign:
        threshold = campaign.load_model().out_of_domain_threshold()
    assert (batch["out_of_domain"] == (batch["domain_distance"] > threshold)).all()
    assert batch["reason"].str.startswith("new domain").sum() == 2  # share 0.5 of 4
    printed = capsys.readouterr().out.splitlines()  # the batch, as the file has it
    assert printed[1].split()[:8] == ["rank", "id", "mean", "W/m/K", "std", "W/m/K", "ucb",
                                      "W/m/K"]
    assert [line.split()[1] for line in printed[2:6]] == batch["id"].tolist()
    again = tmp_path / "again.csv"
    second_batch = ["propose", "tc", "--strategy", "ucb", "--batch", "3", "--param",
                    "beta=1.0", "--out", str(again), "--dir", str(campaign_root)]
    with pytest.raises(SystemExit) as exc:  # batch 1 is pending
        main(second_batch)
    assert exc.value.code == 1 and not again.exists()
    assert "4 pending proposals (batch 1: 4)" in " ".join(capsys.readouterr().err.split())
    _cli([*second_batch, "--allow-pending"])
    second = pd.read_csv(again)
    assert not set(second["id"]) & set(batch["id"])  # never proposed twice
    np.testing.assert_allclose(second["ucb"], second["mean"] + 1.0 * second["std"])
    greedy = tmp_path / "greedy.csv"
    _cli(["propose", "tc", "--strategy", "greedy", "--batch", "2", "--allow-pending",
          "--out", str(greedy), "--dir", str(campaign_root)])
    third = pd.read_csv(greedy)  # greedy ranks by `mean` itself: no acquisition column
    assert list(third.columns) == ["rank", "id", "structure", "mean", "std", "domain",
                                   "domain_distance", "out_of_domain", "reason"]
    assert third["mean"].is_monotonic_decreasing
    with Campaign.open("tc", root=campaign_root, read_only=True) as campaign:
        proposals = campaign.store.proposals()
    assert sorted(proposals["material_id"]) == sorted([*batch["id"], *second["id"],
                                                       *third["id"]])
    assert set(proposals["strategy"]) == {"new-domain", "ucb", "greedy"}
    assert sorted(proposals["round"].unique()) == [1, 2, 3]
    # abandoned proposals may be proposed again, failed ones never
    _cli(["proposals", "abandon", "tc", "--batch", "3", "--dir", str(campaign_root)])
    _cli(["proposals", "fail", "tc", *second["id"], "--dir", str(campaign_root)])
    _cli(["propose", "tc", "--strategy", "greedy", "--batch", "2", "--allow-pending",
          "--out", str(greedy), "--dir", str(campaign_root)])
    assert pd.read_csv(greedy)["id"].tolist() == third["id"].tolist()
    _cli([*second_batch, "--allow-pending"])
    assert not set(pd.read_csv(again)["id"]) & set(second["id"])


def test_screen_names_the_file_and_row_of_a_reject(campaign_root, data_dir, tmp_path,
                                                   capsys, ray_session):
    pi = load_pi1070(data_dir).dropna(subset=["thermal_conductivity"]).iloc[700:740]
    lib = pi[["id", "smiles", "polymer_class"]].reset_index(drop=True)
    lib.loc[16, "smiles"] = "not a smiles"  # data row 17 of the CSV (line 18)
    path = tmp_path / "lib.csv"
    lib.to_csv(path, index=False)
    _cli(["screen", "tc", "--library", str(path), "--workers", "1", "--chunk-size", "8",
          "--dir", str(campaign_root)])
    out = " ".join(capsys.readouterr().out.split())
    assert "39 scored, 1 rejected" in out
    assert (f"first rejected: {path}: row 17, column 'smiles': invalid polymer input: not a "
            f"parsable SMILES (every reject with its file and row in ") in out
    with Campaign.open("tc", root=campaign_root, read_only=True) as campaign:
        out_dir = campaign.store.screen_runs()["out_dir"].iloc[-1]
    rejects = pd.read_parquet(Path(out_dir) / "rejects")
    assert rejects[["id", "file", "row"]].values.tolist() == [[lib.loc[16, "id"], str(path), 17]]


def test_bad_input_exits_with_one_line(campaign_root, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["propose", "tc", "--strategy", "best", "--out", str(tmp_path / "p.csv"),
              "--dir", str(campaign_root)])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "unknown strategy 'best'" in err and len(err.strip().splitlines()) <= 2
    with pytest.raises(SystemExit) as exc:
        main(["screen", "tc", "--library", str(tmp_path / "none"), "--dir",
              str(campaign_root)])
    assert exc.value.code == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_screen_resumes_with_the_remaining_shards(campaign_root, data_dir, tmp_path):
    """SIGKILL `e2t screen` (and its Ray) after two shards; a re-run does only the rest."""
    lib = tmp_path / "lib"
    _cli(["library", "polymers", "--n", "1200", "--seed", "9", "--out", str(lib),
          "--shard-size", "150", "--data-dir", str(data_dir)])
    with Campaign.open("tc", root=campaign_root) as campaign:  # a second campaign, same model
        config = campaign.dir / "config.toml"
    with Campaign.create("tk", config, root=campaign_root) as other:
        other.ingest(campaign_root / "lab.csv")
        other.train(progress=False)
        out_dir = other.dir / "screens"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    cmd = [str(Path(sys.executable).parent / "e2t"), "screen", "tk", "--library", str(lib),
           "--workers", "1", "--chunk-size", "50", "--dir", str(campaign_root)]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(list(out_dir.glob("*/scores/*.parquet"))) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "screen ended too early"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(list(out_dir.glob("*/scores/*.parquet")))
    assert 2 <= written < 8
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = " ".join(done.stdout.split())
    skipped = int(re.search(r"(\d+) of 8 shards were already done", printed).group(1))
    assert written - 1 <= skipped <= written  # a shard may be written but not yet recorded
    with Campaign.open("tk", root=campaign_root, read_only=True) as campaign:
        runs = campaign.store.screen_runs()
        assert runs["n_shards"].tolist() == [8] and runs["n_rows"].tolist() == [1200]
        results = campaign.store.screen_results(int(runs["id"].iloc[0]))
    assert len(results) == 1200 and results["id"].is_unique
