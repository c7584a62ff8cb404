"""Tests of the screening pipeline: pure scoring, the Ray pipeline, resume, rejects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm

from e2t_discovery.data.datasets import load_pi1070
from e2t_discovery.exceptions import ScreenError
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.featurize.polymer import canonical_psmiles
from e2t_discovery.model import E2TSurrogate
from e2t_discovery.screen.pipeline import (
    REJECT_COLUMNS,
    SCORE_COLUMNS,
    ScoreSettings,
    acquisition_values,
    library_units,
    score_batch,
    screen_library,
)

BAD = {"B1": "not a smiles", "B2": "*CC", "B3": "*C(*)(*)C"}


@pytest.fixture(scope="module")
def pi(data_dir: Path) -> pd.DataFrame:
    """PI1070 with thermal conductivity."""
    return load_pi1070(data_dir).dropna(subset=["thermal_conductivity"])


@pytest.fixture(scope="module")
def model_dir(pi: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small E2T surrogate fitted on 200 polymers, saved to disk."""
    torch.set_num_threads(1)
    train = pi.iloc[::5].head(200)
    X = get_featurizer("polymer").transform(train["smiles"].tolist())
    model = E2TSurrogate(steps=30, eval_every=10, device="cpu").fit(
        X, train["thermal_conductivity"].to_numpy(), groups=train["polymer_class"].to_numpy(),
        progress=False)
    path = tmp_path_factory.mktemp("model")
    model.save(path)
    return path


@pytest.fixture(scope="module")
def candidates(pi: pd.DataFrame) -> pd.DataFrame:
    """230 candidates: 227 PI1070 polymers (unordered spellings kept) and 3 bad rows."""
    good = pi.iloc[1::4].head(227)
    frame = pd.DataFrame({"id": good["id"].astype(str), "smiles": good["smiles"],
                          "domain": good["polymer_class"].astype(str)})
    bad = pd.DataFrame({"id": list(BAD), "smiles": list(BAD.values()), "domain": "x"})
    return pd.concat([frame.iloc[:50], bad, frame.iloc[50:]], ignore_index=True)


def _write_shards(frame: pd.DataFrame, folder: Path, size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, start in enumerate(range(0, len(frame), size)):
        frame.iloc[start:start + size].to_parquet(folder / f"part-{k:03d}.parquet", index=False)
    return folder


def test_acquisition_values_by_objective():
    mean, std = np.array([1.0, 2.0]), np.array([0.5, 0.0])
    assert acquisition_values(mean, std, beta=2.0).tolist() == [2.0, 2.0]
    assert acquisition_values(mean, std, beta=1.0, objective="minimize").tolist() == [-0.5,
                                                                                     -2.0]
    inside = acquisition_values(mean, std, objective="range", low=0.0, high=1.5)
    np.testing.assert_allclose(inside, [norm.cdf(1.0) - norm.cdf(-2.0), 0.0], atol=1e-12)
    with pytest.raises(ScreenError, match="unknown objective 'up'"):
        acquisition_values(mean, std, objective="up")


def test_score_batch_scores_valid_rows_and_rejects_bad_ones(model_dir, candidates):
    model = E2TSurrogate.load(model_dir)
    featurizer = get_featurizer("polymer")
    scored, rejects = score_batch(candidates, model, featurizer, item_column="smiles",
                                  beta=1.5, file="lib.csv", first_row=101)
    assert tuple(scored.columns) == SCORE_COLUMNS
    assert tuple(rejects.columns) == REJECT_COLUMNS
    assert set(rejects["id"]) == set(BAD)
    # the bad rows are the batch's rows 51-53, i.e. data rows 151-153 of lib.csv
    assert rejects["row"].tolist() == [151, 152, 153]
    assert set(rejects["file"]) == {"lib.csv"}
    reasons = dict(zip(rejects["id"], rejects["reason"], strict=True))
    assert "parsable" in reasons["B1"] and "exactly 2" in reasons["B2"]
    good = candidates[~candidates["id"].isin(BAD)]
    assert scored["id"].tolist() == good["id"].tolist()
    X = featurizer.transform(good["smiles"].tolist())
    mean, std = model.predict(X, return_std=True)
    np.testing.assert_allclose(scored["mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(scored["std"], std, rtol=1e-6)
    np.testing.assert_allclose(scored["domain_distance"], model.domain_distance(X), rtol=1e-6)
    np.testing.assert_allclose(scored["acquisition"], mean + 1.5 * std, rtol=1e-6)
    assert scored["canonical"].tolist() == [canonical_psmiles(s) for s in good["smiles"]]
    assert scored["domain"].tolist() == good["domain"].tolist()


def test_parallel_screen_equals_serial_scoring(model_dir, candidates, tmp_path, ray_session):
    import tempfile

    lib = _write_shards(candidates, tmp_path / "lib", 60)
    settings = ScoreSettings(kind="polymer", item_column="smiles", beta=2.0)
    done: list[str] = []
    temp = Path(tempfile.gettempdir())
    before = set(temp.glob("e2t-model-*"))
    summary = screen_library(lib, model_dir, tmp_path / "out", settings, batch_size=16,
                             workers=2, progress=False,
                             on_unit_done=lambda u, p, n, r: done.append(u.name))
    assert set(temp.glob("e2t-model-*")) == before  # actors leave no model copies behind
    assert summary.n_scored == len(candidates) - len(BAD)
    assert summary.n_rejected == len(BAD) and summary.workers == 2
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


def test_resume_scores_only_unfinished_shards(model_dir, candidates, tmp_path, ray_session):
    lib = _write_shards(candidates.head(90), tmp_path / "lib", 30)
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


def test_library_units_of_single_files(candidates, tmp_path):
    pq_path = tmp_path / "lib.parquet"
    candidates.to_parquet(pq_path, index=False, row_group_size=100)
    units = library_units(pq_path, needed=["id", "smiles"])
    assert [u.n_rows for u in units] == [100, 100, 30]
    assert [u.offset for u in units] == [0, 100, 200]  # rows numbered across row groups
    assert [u.name for u in units] == ["lib-rg00000", "lib-rg00001", "lib-rg00002"]
    csv_path = tmp_path / "lib.csv"
    candidates.to_csv(csv_path, index=False)
    units = library_units(csv_path, needed=["id"], csv_chunk=100)
    assert [(u.offset, u.n_rows) for u in units] == [(0, 100), (100, 100), (200, 30)]


def test_library_errors_name_the_problem(candidates, tmp_path):
    with pytest.raises(ScreenError, match="does not exist"):
        library_units(tmp_path / "missing")
    candidates.to_parquet(tmp_path / "lib.parquet", index=False)
    with pytest.raises(ScreenError, match="lacks column"):
        library_units(tmp_path / "lib.parquet", needed=["id", "formula"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScreenError, match="no .parquet shards"):
        library_units(tmp_path / "empty")


def test_domains_from_elements_for_compositions(data_dir):
    from e2t_discovery.data.datasets import load_hoip

    hoip = load_hoip(data_dir).iloc[::10].head(80)
    featurizer = get_featurizer("composition")
    X = featurizer.transform(hoip["formula"].tolist())
    model = E2TSurrogate(steps=10, eval_every=5, device="cpu").fit(
        X, hoip["band_gap_gga"].to_numpy(), progress=False)
    batch = pd.DataFrame({"id": ["x1", "x2", "x3"],
                          "formula": ["CH3NH3PbI3", "CsGeF3", "not a formula"]})
    scored, rejects = score_batch(batch, model, featurizer, item_column="formula",
                                  element_groups=[["Ge", "Sn", "Pb"], ["F", "Cl", "Br", "I"]],
                                  objective="minimize")
    assert scored["domain"].tolist() == ["Pb-I", "Ge-F"]
    assert rejects["id"].tolist() == ["x3"]
    np.testing.assert_allclose(scored["acquisition"], -scored["mean"] + 2 * scored["std"])


_QUIET = textwrap.dedent("""
    import json, sys
    import ray
    from e2t_discovery.screen.pipeline import ScoreSettings, screen_library
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


def test_small_library_skips_ray_and_ray_starts_quietly(model_dir, candidates, tmp_path):
    lib = _write_shards(candidates, tmp_path / "lib", 120)
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
