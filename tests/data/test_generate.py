"""Tests of virtual polymer library generation (real RDKit, real PI1070 seeds)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from e2t_discovery.data.datasets import load_pi1070
from e2t_discovery.data.generate import LibraryInfo, generate_polymer_library
from e2t_discovery.exceptions import ScreenError
from e2t_discovery.featurize.polymer import canonical_psmiles
from e2t_discovery.screen.library import Library


@pytest.fixture(scope="module")
def pi_seeds(data_dir: Path) -> pd.DataFrame:
    """PI1070 repeat units with their class and id."""
    return load_pi1070(data_dir)[["id", "smiles", "polymer_class"]].head(200)


def _make(seeds: pd.DataFrame, out: Path, n: int, seed: int = 0, **kw: object):
    return generate_polymer_library(
        seeds["smiles"].tolist(), n, seed, out, domains=seeds["polymer_class"].astype(str),
        parents=seeds["id"].tolist(), progress=False, **kw)


def _read(info: LibraryInfo) -> pd.DataFrame:
    return Library.open(info.path).read()


def test_library_has_n_unique_valid_psmiles_in_fixed_shards(pi_seeds, tmp_path):
    info = _make(pi_seeds, tmp_path / "lib", 500, shard_size=200, chunk_size=300)
    lib = Library.open(tmp_path / "lib").read()
    assert info.n == 500 and len(lib) == 500
    assert info.shards == ["shard-00000.parquet", "shard-00001.parquet", "shard-00002.parquet"]
    assert [len(pd.read_parquet(tmp_path / "lib" / s)) for s in info.shards] == [200, 200, 100]
    assert lib["id"].is_unique and lib["smiles"].is_unique
    canon = [canonical_psmiles(s) for s in lib["smiles"]]  # raises on any invalid p-SMILES
    assert len(set(canon)) == 500
    assert all(s.count("*") == 2 for s in lib["smiles"])
    seeds = {canonical_psmiles(s) for s in pi_seeds["smiles"]}
    assert not seeds & set(canon)
    assert set(lib["domain"]) <= {*pi_seeds["polymer_class"].astype(str),
                                  *(f"{a}+{b}" for a in range(30) for b in range(30))}
    manifest = json.loads((tmp_path / "lib" / "library.json").read_text())
    assert manifest["n"] == 500 and manifest["seed"] == 0
    assert Library.open(tmp_path / "lib").canonical  # a screen skips canonicalization


def test_library_is_deterministic_per_seed(pi_seeds, tmp_path):
    a = _read(_make(pi_seeds, tmp_path / "a", 300, seed=1, chunk_size=200))
    b = _read(_make(pi_seeds, tmp_path / "b", 300, seed=1, chunk_size=200))
    c = _read(_make(pi_seeds, tmp_path / "c", 300, seed=2, chunk_size=200))
    pd.testing.assert_frame_equal(a, b)
    assert set(a["smiles"]) != set(c["smiles"])


def test_ray_workers_give_the_same_library(pi_seeds, tmp_path, ray_session):
    serial = _read(_make(pi_seeds, tmp_path / "s", 400, seed=3, chunk_size=100))
    parallel = _read(_make(pi_seeds, tmp_path / "p", 400, seed=3, chunk_size=100, workers=2))
    pd.testing.assert_frame_equal(serial, parallel)


def test_non_empty_output_folder_is_refused(pi_seeds, tmp_path):
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(ScreenError, match="is not empty"):
        _make(pi_seeds, tmp_path, 10)


def test_invalid_seeds_are_refused(tmp_path):
    with pytest.raises(ScreenError, match="exactly two"):
        generate_polymer_library(["CC", "*C(*)*", "not smiles"], 10, 0, tmp_path / "o",
                                 progress=False)


def test_too_small_seed_set_says_so(tmp_path):
    with pytest.raises(ScreenError, match="yield only"):
        generate_polymer_library(["*C*"], 100_000, 0, tmp_path / "o", chunk_size=200,
                                 recombine_share=0.0, max_substitutions=1, progress=False)
